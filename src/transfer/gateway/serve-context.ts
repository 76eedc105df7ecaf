import type { BlockSource } from '../../core/index.ts'
import type { GatewayRequest } from './parse-gateway-request.ts'

/** Everything a response builder needs about one request. */
export interface ServeContext {
  source: BlockSource
  /** The original HTTP request (headers such as `Range`, `If-None-Match`). */
  request: Request
  parsed: GatewayRequest
  /** HEAD: headers only, no body is produced. */
  head: boolean
  signal: AbortSignal
  /** The response goes to an origin shared with the portal: active files become attachments. */
  sandbox: boolean
}

/** A 304 Not Modified carrying the validator and caching headers, no body. */
export function notModified(headers: Headers, etag: string): Response {
  headers.set('ETag', etag)
  return new Response(null, { status: 304, headers })
}
