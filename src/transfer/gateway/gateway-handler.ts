import type { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import type { BlockSource } from '../../core/index.ts'
import { errorResponse, jsonError } from './error-response.ts'
import { GATEWAY_METHODS, gatewayOptions, withGatewayCors } from './gateway-cors.ts'
import { parseGatewayRequest } from './parse-gateway-request.ts'
import { serveCar } from './serve-car.ts'
import type { ServeContext } from './serve-context.ts'
import { serveRaw } from './serve-raw.ts'
import { serveUnixfs } from './serve-unixfs.ts'

const IDENTITY_CODE = identity.code

/** What a gateway serves from and who may read it. */
export interface GatewayOptions {
  /** Blocks are read from here; identity CIDs are answered without it. */
  source: BlockSource
  /**
   * Decides access per request once its CID is known (after syntax checks, before any
   * block is read). Return a `Response` (401/403/…) to deny, `undefined` to allow.
   * `segments` are the decoded path segments after the CID.
   */
  authorize?: (request: Request, cid: CID, segments: readonly string[]) => Promise<Response | undefined>
  /**
   * The gateway shares its origin with an application (the portal) whose storage user
   * content must never reach: every response gets `Content-Security-Policy: sandbox`
   * (an opaque origin, no scripts) and HTML, SVG and XML files are sent as attachments.
   */
  sandbox?: boolean
}

/** A WHATWG fetch-style handler: one `Request` in, one `Response` out. */
export type GatewayHandler = (request: Request) => Promise<Response>

/**
 * Creates an IPFS gateway handler for `GET`/`HEAD /ipfs/{cid}[/{path}]`, independent of
 * any HTTP framework:
 * - trustless responses: `?format=raw` / `Accept: application/vnd.ipld.raw` (one block),
 *   `?format=car` / `Accept: application/vnd.ipld.car` (CARv1, DFS, with `dag-scope`,
 *   `entity-bytes`, `car-version`, `car-order`, `car-dups`); `format` wins over `Accept`;
 * - path gateway (no format): files with content types and single `Range`s, directories
 *   as `index.html` or an HTML listing, with a 301 to the trailing-slash URL.
 *
 * Status codes: 400 bad CID/path/parameter, 406 a codec conversion (`format=dag-json`…),
 * 412 `Cache-Control: only-if-cached` when the root block is not held, or a `Service-Worker: script` request (a service
 * worker registered from user content would control every later page of the origin), 404 missing root or path, 204 `OPTIONS`, 405 other methods (with `Allow`),
 * 304 on a matching `If-None-Match`. Errors are JSON `{"error":{"code","message"}}`.
 * Every response allows any origin (`gateway-cors.ts`).
 * Bodies stream; once a 200 is sent, a missing block errors the stream (the connection is
 * aborted), so a client never mistakes a truncated body for a complete one.
 * The handler never rejects: unexpected failures become a generic 500.
 */
export function createGatewayHandler(options: GatewayOptions): GatewayHandler {
  return async (request) => {
    const isHead = request.method === 'HEAD'
    let response: Response
    try {
      response = await handle(request, options)
    } catch (err) {
      response = errorResponse(err)
    }
    if (options.sandbox === true) sandboxed(response.headers)
    withGatewayCors(response.headers)
    return isHead ? withoutBody(response) : response
  }
}

/** The `sandbox` directive added to whatever policy the response already has. */
function sandboxed(headers: Headers): void {
  const policy = headers.get('content-security-policy')
  headers.set('Content-Security-Policy', policy === null ? 'sandbox' : `sandbox; ${policy}`)
  headers.set('X-Content-Type-Options', 'nosniff')
}

async function handle(request: Request, options: GatewayOptions): Promise<Response> {
  if (request.method === 'OPTIONS') return gatewayOptions()
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return jsonError(405, 'ERR_METHOD_NOT_ALLOWED', `method ${request.method} is not allowed`, { Allow: GATEWAY_METHODS })
  }
  if (request.headers.get('service-worker') === 'script') {
    return jsonError(400, 'ERR_INVALID_GATEWAY_REQUEST', 'service worker registration is not allowed on this gateway')
  }
  const parsed = parseGatewayRequest(request)
  if (parsed === undefined) return jsonError(404, 'ERR_NOT_FOUND', 'not found: only /ipfs/{cid}[/{path}] is served')
  const denied = await options.authorize?.(request, parsed.cid, parsed.segments)
  if (denied !== undefined) return denied
  if (onlyIfCached(request) && !(await isLocal(options.source, parsed.cid))) {
    return jsonError(412, 'ERR_NOT_CACHED', `${parsed.cid} is not held here (Cache-Control: only-if-cached)`)
  }
  const ctx: ServeContext = { source: options.source, request, parsed, head: request.method === 'HEAD', signal: request.signal, sandbox: options.sandbox === true }
  if (parsed.format === 'raw') return serveRaw(ctx)
  if (parsed.format === 'car' && parsed.car !== undefined) return serveCar(ctx, parsed.car)
  return serveUnixfs(ctx)
}

/** `Cache-Control: only-if-cached`: the client wants a 412, not a fetch, when the root is not here. */
function onlyIfCached(request: Request): boolean {
  return /(^|,)\s*only-if-cached\s*(,|$)/i.test(request.headers.get('cache-control') ?? '')
}

/** Identity CIDs carry their bytes, so they are always here. */
async function isLocal(source: BlockSource, cid: CID): Promise<boolean> {
  return cid.multihash.code === IDENTITY_CODE || (await source.has(cid))
}

/** HEAD answers carry the GET headers and never a body (error bodies included). */
function withoutBody(response: Response): Response {
  if (response.body === null) return response
  void response.body.cancel().catch(() => {})
  return new Response(null, { status: response.status, statusText: response.statusText, headers: response.headers })
}
