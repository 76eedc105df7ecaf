import type { FastifyInstance, FastifyRequest } from 'fastify'

/** The APIs a browser app on another origin may call when its origin is allowed; `/ipfs/` answers CORS itself (every origin). */
const API_PREFIXES = ['/api/v1/', '/api/v0/', '/pinning/']
const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'
/** Kubo RPC streams, rate limits and uploads report through these; browsers hide them unless exposed. */
const EXPOSED_HEADERS = 'Content-Length, Content-Disposition, Location, Retry-After, X-Stream-Output, X-Chunked-Output, X-Content-Length'
/** A header list as `Access-Control-Request-Headers` carries it: tokens separated by commas. */
const HEADER_LIST = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*$/
const PREFLIGHT_MAX_AGE_SECONDS = '600'

/** Decides whether a browser origin may read API responses (`cors.allowOrigins`; `*` allows all). */
export type OriginPolicy = (origin: string | undefined) => origin is string

export function originPolicy(allowOrigins: readonly string[]): OriginPolicy {
  const allowed = new Set(allowOrigins)
  const any = allowed.has('*')
  return (origin): origin is string => origin !== undefined && origin !== 'null' && (any || allowed.has(origin))
}

/**
 * CORS for the APIs: a preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered
 * here with 204 before rate limiting, routing or authentication — preflights never carry
 * credentials — granting the allowed origin every method and the headers it asked for; an
 * origin not allowed gets a 204 without any `Access-Control-*` header, so its browser refuses.
 * Other requests from an allowed origin get `Access-Control-Allow-Origin: <origin>` (never `*`
 * and never `Allow-Credentials`: the APIs authenticate by bearer token, not by cookie). Headers
 * go on the raw response so routes that write it themselves (tus, events) carry them too.
 */
export function installCors(app: FastifyInstance, allows: OriginPolicy): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!API_PREFIXES.some((prefix) => request.url.startsWith(prefix))) return
    const origin = request.headers.origin
    const raw = reply.raw
    raw.setHeader('Vary', 'Origin')
    if (isPreflight(request)) {
      if (allows(origin)) {
        raw.setHeader('Access-Control-Allow-Origin', origin)
        raw.setHeader('Access-Control-Allow-Methods', ALLOWED_METHODS)
        const asked = request.headers['access-control-request-headers']
        if (typeof asked === 'string' && HEADER_LIST.test(asked.trim())) raw.setHeader('Access-Control-Allow-Headers', asked.trim())
        raw.setHeader('Access-Control-Max-Age', PREFLIGHT_MAX_AGE_SECONDS)
      }
      return reply.code(204).send()
    }
    if (allows(origin)) {
      raw.setHeader('Access-Control-Allow-Origin', origin)
      raw.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS)
    }
  })
}

function isPreflight(request: FastifyRequest): boolean {
  return request.method === 'OPTIONS' && request.headers.origin !== undefined && request.headers['access-control-request-method'] !== undefined
}
