import { PinfoldError } from '../../core/index.ts'
import type { Registry } from '../../registry/index.ts'

/**
 * Slack allowed for multipart framing (boundaries, part headers) when a request's
 * Content-Length is compared with a limit on file bytes, so a file exactly at the limit
 * is not refused for its envelope; the exact count is enforced while streaming.
 */
export const MULTIPART_FRAMING_ALLOWANCE = 64 * 1024

/** What one upload of an account may still bring in; `Infinity` = unlimited. */
export interface UploadLimits {
  /** Largest upload: the coordinator's `limits.maxUploadBytes` and the account's `quotaUploadBytes`. */
  uploadBytes: number
  /** Storage quota left: `quotaStorageBytes` − bytes the account already stores. */
  storageBytes: number
}

export class UploadTooLargeError extends PinfoldError {
  constructor(limit: number) {
    super('ERR_UPLOAD_TOO_LARGE', `upload exceeds the limit of ${limit} bytes`, { userError: true })
  }
}

export class QuotaExceededError extends PinfoldError {
  constructor(remaining: number) {
    super('ERR_QUOTA_EXCEEDED', `upload exceeds the storage quota (${Math.max(0, remaining)} bytes left)`, { userError: true })
  }
}

const unlimitedIfZero = (n: number | null | undefined): number => (n === null || n === undefined || n === 0 ? Infinity : n)

/**
 * Reads the account's quotas and current storage; one registry round trip each. Open uploads
 * (other than `exceptUploadId`) hold their declared lengths, so the quota left excludes them.
 */
export async function uploadLimitsFor(registry: Registry, maxUploadBytes: number, accountId: string, exceptUploadId?: string): Promise<UploadLimits> {
  const account = await registry.accounts.get(accountId)
  const uploadBytes = Math.min(unlimitedIfZero(maxUploadBytes), unlimitedIfZero(account?.quotaUploadBytes))
  const quota = account?.quotaStorageBytes
  if (quota === null || quota === undefined) return { uploadBytes, storageBytes: Infinity }
  const [stored, open] = await Promise.all([registry.entries.storedBytes(accountId), registry.uploads.open(accountId, exceptUploadId)])
  return { uploadBytes, storageBytes: quota - stored - open.reservedBytes }
}

export class TooManyUploadsError extends PinfoldError {
  constructor(max: number) {
    super('ERR_TOO_MANY_UPLOADS', `${max} uploads are already open for this account; finish or cancel one first`, { userError: true })
  }
}

/**
 * Throws when `bytes` more would cross a limit: 413 for the upload size, 507 for storage.
 * The upload limit is checked first: an upload too large for any quota is the clearer message.
 */
export function checkIncoming(limits: UploadLimits, bytes: number): void {
  if (bytes > limits.uploadBytes) throw new UploadTooLargeError(limits.uploadBytes)
  if (bytes > limits.storageBytes) throw new QuotaExceededError(limits.storageBytes)
}

/** Refuses a request by its declared Content-Length, before reading any of the body. */
export function checkDeclaredLength(limits: UploadLimits, contentLength: string | undefined): void {
  if (contentLength === undefined) return
  const declared = Number(contentLength)
  if (Number.isSafeInteger(declared)) checkIncoming(limits, declared - MULTIPART_FRAMING_ALLOWANCE)
}
