import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { extname, join, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { CoordinatorComponents } from '../../components.ts'
import { sendError } from '../error-handler.ts'

/** Where `npm --prefix web run build` puts the portal (web/dist at the package root). */
export const PORTAL_DIR = fileURLToPath(new URL('../../../../web/dist/', import.meta.url))

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
}

/** Vite names everything under assets/ by content hash: safe to cache for ever. */
const IMMUTABLE = 'public, max-age=31536000, immutable'
/** Everything else (index.html above all) must be revalidated so a new build is picked up. */
const REVALIDATE = 'no-cache'

/** The portal only ever talks to its own origin; nothing from elsewhere may load. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
}

/** Paths that belong to the API and other routes: never answered with the portal. */
const NOT_PORTAL = /^\/(api|ipfs|ipns)(\/|$)/

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Pinfold</title>
<body><h1>Pinfold</h1><p>The web portal has not been built. Run <code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code>
(the root <code>npm ci</code> does this), then reload. The REST API is at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p></body></html>`

/**
 * The web portal: the built single-page app in web/dist, served at `/`. Existing files are
 * sent with their content type (hashed assets cached for ever); any other GET outside the
 * API answers index.html so client-side routes survive a reload. Paths with `..`, encoded
 * separators or NUL are refused; nothing outside the build directory is ever read.
 */
export function portalRoutes(app: FastifyInstance, _components: CoordinatorComponents, root = PORTAL_DIR): void {
  const base = resolve(root)
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const pathname = request.url.split('?')[0] ?? '/'
    if (NOT_PORTAL.test(pathname)) return reply.callNotFound()
    let decoded: string
    try {
      decoded = decodeURIComponent(pathname)
    } catch {
      return sendError(reply, 400, 'ERR_BAD_REQUEST', 'malformed path')
    }
    const segments = decoded.split('/').filter((segment) => segment !== '')
    if (decoded.includes('\0') || decoded.includes('\\') || segments.some((segment) => segment === '..' || segment === '.')) {
      return sendError(reply, 400, 'ERR_BAD_REQUEST', 'invalid path')
    }
    const candidate = resolve(base, ...segments)
    if (candidate !== base && !candidate.startsWith(base + sep)) return sendError(reply, 400, 'ERR_BAD_REQUEST', 'invalid path')
    if (segments.length > 0 && (await isFile(candidate))) {
      const immutable = segments[0] === 'assets'
      return sendFile(reply, candidate, immutable ? IMMUTABLE : REVALIDATE)
    }
    // a missing hashed asset is a real 404 (an old page asking for a replaced build)
    if (segments[0] === 'assets' || extname(decoded) !== '') return reply.callNotFound()
    const index = join(base, 'index.html')
    if (!(await isFile(index))) return reply.code(503).headers(SECURITY_HEADERS).type(CONTENT_TYPES['.html'] ?? 'text/html').send(NOT_BUILT)
    return sendFile(reply, index, REVALIDATE)
  }
  const options = { schema: { hide: true }, config: { rateLimit: false as const } }
  app.route({ method: ['GET', 'HEAD'], url: '/', ...options, handler })
  app.route({ method: ['GET', 'HEAD'], url: '/*', ...options, handler })
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}

async function sendFile(reply: FastifyReply, path: string, cacheControl: string): Promise<FastifyReply> {
  const info = await stat(path)
  const type = CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream'
  return reply
    .headers(SECURITY_HEADERS)
    .header('cache-control', cacheControl)
    .header('last-modified', info.mtime.toUTCString())
    .header('content-length', info.size)
    .type(type)
    .send(reply.request.method === 'HEAD' ? undefined : createReadStream(path))
}
