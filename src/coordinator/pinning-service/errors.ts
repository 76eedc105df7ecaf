import { PinfoldError } from '../../core/index.ts'
import { httpStatusFor } from '../http/error-status.ts'

/** The Pinning Service API's error body: `{"error":{"reason","details"}}` (not Pinfold's `{code,message}`). */
export interface PinningFailure {
  error: { reason: string; details?: string }
}

/** An error this API answers with its own reason (BAD_REQUEST, NOT_FOUND, INSUFFICIENT_FUNDS, …). */
export class PinningApiError extends Error {
  readonly statusCode: number
  readonly reason: string

  constructor(statusCode: number, reason: string, details: string) {
    super(details)
    this.statusCode = statusCode
    this.reason = reason
  }
}

export const badRequest = (details: string): PinningApiError => new PinningApiError(400, 'BAD_REQUEST', details)
export const notFound = (details = 'The specified resource was not found'): PinningApiError =>
  new PinningApiError(404, 'NOT_FOUND', details)

/** Reasons for the statuses the spec names; other 4XX get a reason of their own (CustomServiceError). */
const REASON_BY_STATUS: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
}

/**
 * Maps anything thrown under `/pinning` to a status and the spec's failure body. Storage
 * quota (`ERR_QUOTA_EXCEEDED`, 507 elsewhere) is the spec's 409 INSUFFICIENT_FUNDS; every
 * 5XX is INTERNAL_SERVER_ERROR without internals in `details`.
 */
export function toPinningFailure(error: unknown): { status: number; body: PinningFailure } {
  if (error instanceof PinningApiError) return failure(error.statusCode, error.reason, error.message)
  if (error instanceof PinfoldError) {
    if (error.code === 'ERR_QUOTA_EXCEEDED') return failure(409, 'INSUFFICIENT_FUNDS', error.message)
    const status = httpStatusFor(error.code, error.userError)
    if (status >= 500) return internal()
    if (error.code === 'ERR_TOKEN_EXPIRED' || error.code === 'ERR_UNAUTHORIZED' || status === 401)
      return failure(401, 'UNAUTHORIZED', error.message)
    return failure(status, REASON_BY_STATUS[status] ?? 'BAD_REQUEST', error.message)
  }
  const e = error as { statusCode?: number; validation?: unknown; message?: string }
  if (e.validation) return failure(400, 'BAD_REQUEST', e.message ?? 'invalid request')
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return failure(e.statusCode, REASON_BY_STATUS[e.statusCode] ?? 'BAD_REQUEST', e.message ?? 'bad request')
  }
  return internal()
}

function failure(status: number, reason: string, details: string): { status: number; body: PinningFailure } {
  return { status, body: { error: { reason, details } } }
}

function internal(): { status: number; body: PinningFailure } {
  return failure(500, 'INTERNAL_SERVER_ERROR', 'unexpected internal error; the coordinator log has the details')
}
