import { formatBytes } from './format'

/**
 * Turns the API's refusal of an upload into one line in the user's terms, and tells a
 * refusal (retrying cannot help: quota, size, permission, bad input) from a transient
 * failure (network, 5xx, 423 locked, 429 busy) that a retry may get past.
 */
export interface UploadRefusal {
  message: string
  /** False when a retry cannot succeed. */
  retryable: boolean
}

/** Stable codes that no retry changes, whatever status carries them (the quota is a 507). */
const FINAL_CODES = new Set(['ERR_QUOTA_EXCEEDED', 'ERR_UPLOAD_TOO_LARGE', 'ERR_FORBIDDEN', 'ERR_TOO_MANY_UPLOADS'])
/** Client errors that mean "try again": tus offset conflicts, a locked upload, rate limits, timeouts. */
const TRANSIENT_STATUSES = new Set([408, 409, 423, 429])

export function describeRefusal(status: number, body: string | null | undefined): UploadRefusal {
  const error = parseError(body)
  const retryable = !FINAL_CODES.has(error?.code ?? '') && (status === 0 || status >= 500 || TRANSIENT_STATUSES.has(status))
  return { message: userTerms(status, error), retryable }
}

function parseError(body: string | null | undefined): { code?: string; message?: string } | undefined {
  if (!body) return undefined
  try {
    const parsed = JSON.parse(body) as { error?: { code?: string; message?: string } }
    return parsed.error
  } catch {
    return undefined
  }
}

function userTerms(status: number, error: { code?: string; message?: string } | undefined): string {
  const bytes = Number(/(\d+) bytes/.exec(error?.message ?? '')?.[1])
  switch (error?.code) {
    case 'ERR_QUOTA_EXCEEDED':
      return Number.isFinite(bytes) ? `not enough quota: ${formatBytes(bytes)} left` : 'not enough quota left'
    case 'ERR_UPLOAD_TOO_LARGE':
      return Number.isFinite(bytes) ? `too large: uploads are limited to ${formatBytes(bytes)}` : 'too large for this account'
    case 'ERR_FORBIDDEN':
      return `not allowed: ${error.message ?? 'permission denied'}`
  }
  if (error?.message) return error.message
  if (status === 0) return 'network error: the upload could not reach the server'
  return `upload failed (HTTP ${status})`
}
