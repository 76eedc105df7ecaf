/**
 * CORS of `/ipfs/` (as Kubo's gateway): content is addressed by hash and reads are checked
 * per request (token, share link), so any origin may read what the request itself may read.
 * Exposed: what verified-fetch and Helia check (lengths, ranges, paths, roots, ETag).
 */
const GATEWAY_CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers':
    'Content-Length, Content-Range, Content-Type, Content-Disposition, Content-Location, ETag, Cache-Control, X-Ipfs-Path, X-Ipfs-Roots, X-Content-Type-Options, X-Stream-Output, X-Chunked-Output',
}

/** What a preflight is granted: the read methods and the request headers a reader may send. */
const GATEWAY_PREFLIGHT = {
  'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
  'Access-Control-Allow-Headers': 'Accept, Authorization, Cache-Control, Content-Type, If-None-Match, Range, User-Agent, X-Requested-With',
  'Access-Control-Max-Age': '86400',
}

/** The methods `/ipfs/` answers (the `Allow` of a 405 and of `OPTIONS`). */
export const GATEWAY_METHODS = 'GET, HEAD, OPTIONS'

/** Adds the CORS headers every gateway response carries (errors included, so a browser can read them). */
export function withGatewayCors(headers: Headers): void {
  for (const [name, value] of Object.entries(GATEWAY_CORS)) headers.set(name, value)
}

/** `OPTIONS /ipfs/…`: 204 with the methods, and for a browser preflight what it may send. */
export function gatewayOptions(): Response {
  return new Response(null, { status: 204, headers: { Allow: GATEWAY_METHODS, ...GATEWAY_PREFLIGHT } })
}
