import { PinfoldError } from '../../core/index.ts'

/** HTTP status for each stable error code the gateway can meet; anything else is 500. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  ERR_INVALID_CID: 400,
  ERR_UNSAFE_PATH: 400,
  ERR_INVALID_GATEWAY_REQUEST: 400,
  ERR_RANGE_OUTSIDE_ENTITY: 400,
  ERR_INVALID_OPTION: 400,
  ERR_NOT_FOUND: 404,
  ERR_BLOCK_NOT_FOUND: 404,
  ERR_PATH_NOT_FOUND: 404,
  ERR_METHOD_NOT_ALLOWED: 405,
  ERR_NOT_ACCEPTABLE: 406,
  ERR_NOT_CACHED: 412,
  ERR_UNSUPPORTED_CODEC: 501,
  ERR_INVALID_DAG: 501,
  ERR_INVALID_BLOCK: 502,
  ERR_BLOCK_CORRUPT: 502,
  ERR_SOURCE_FAILED: 502,
}

/**
 * The HTTP status for an error: by its stable `code` when known, 500 otherwise.
 */
export function statusForError(err: unknown): number {
  const code = err instanceof PinfoldError ? err.code : undefined
  return (code !== undefined ? STATUS_BY_CODE[code] : undefined) ?? 500
}

/**
 * A JSON error response `{"error":{"code","message"}}`. Internal errors get a generic
 * message so that nothing about the server's internals leaks to the client.
 */
export function errorResponse(err: unknown, extraHeaders: Record<string, string> = {}): Response {
  const status = statusForError(err)
  const known = err instanceof PinfoldError && status !== 500
  const code = known ? err.code : 'ERR_INTERNAL'
  const message = known ? err.message : 'internal error'
  return jsonError(status, code, message, extraHeaders)
}

/** A JSON error response with an explicit status and code. */
export function jsonError(status: number, code: string, message: string, extraHeaders: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'X-Content-Type-Options': 'nosniff', ...extraHeaders },
  })
}
