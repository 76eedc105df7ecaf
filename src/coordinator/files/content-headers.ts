// The gateway already has the extension table and an RFC 8187 Content-Disposition
// encoder; the files API serves the same bytes and must label them the same way.
import { contentTypeForName, OCTET_STREAM } from '../../transfer/gateway/content-type.ts'
import { contentDisposition } from '../../transfer/gateway/response-headers.ts'

export const TAR_CONTENT_TYPE = 'application/x-tar'

/**
 * Downloads are served on the portal's origin: whatever a browser makes of the bytes runs
 * in an opaque origin without scripts, and is never sniffed into something active.
 */
export const SANDBOX_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': 'sandbox',
  'x-content-type-options': 'nosniff',
}

/** `Content-Type` for a file by its name's extension, else application/octet-stream (never sniffed). */
export function fileContentType(name: string): string {
  return contentTypeForName(name) ?? OCTET_STREAM
}

/**
 * `Content-Disposition`: `attachment` when the client asked to download, else `inline`,
 * always with the file name (ASCII fallback plus `filename*=UTF-8''…` when needed).
 */
export function dispositionFor(name: string, download: boolean): string {
  return contentDisposition(download ? 'attachment' : 'inline', name)
}

/** The HTTP query flag `download=1|true` (the schema admits only these spellings and 0/false). */
export function isDownload(flag: string | undefined): boolean {
  return flag === '1' || flag === 'true'
}
