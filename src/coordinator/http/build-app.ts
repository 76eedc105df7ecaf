import rateLimit from '@fastify/rate-limit'
import swagger from '@fastify/swagger'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify'
import type { CoordinatorComponents } from '../components.ts'
import { installRequestBounds } from '../limits/index.ts'
import { installRequestCounting } from '../usage/index.ts'
import { installAuthenticateFirst } from './authenticate-first.ts'
import { installCors, originPolicy } from './cors.ts'
import { installErrorHandling } from './error-handler.ts'
import { installRequestMetrics } from './request-metrics.ts'
import { accountRoutes } from './routes/account-routes.ts'
import { authRoutes } from './routes/auth-routes.ts'
import { contentRoutes } from './routes/content-routes.ts'
import { entryRoutes } from './routes/entry-routes.ts'
import { eventRoutes } from './routes/event-routes.ts'
import { gatewayRoutes } from './routes/gateway-routes.ts'
import { healthRoutes } from './routes/health-routes.ts'
import { keyRoutes } from './routes/key-routes.ts'
import { kuboRpcRoutes } from './routes/kubo-rpc-routes.ts'
import { nodeRoutes } from './routes/node-routes.ts'
import { pinningServiceRoutes } from './routes/pinning-service-routes.ts'
import { portalRoutes } from './routes/portal-routes.ts'
import { shareRoutes } from './routes/share-routes.ts'
import { uploadRoutes } from './routes/upload-routes.ts'
import { usageRoutes } from './routes/usage-routes.ts'

export type CoordinatorApp = FastifyInstance

/** The storage nodes' control WebSocket (see routes/node-routes.ts). */
const NODE_CONTROL_PATH = '/api/v1/nodes/connect'
/** Rate-limit keys of verified storage nodes (exempt from the per-address limit). */
const PEER_KEY_PREFIX = 'peer:'

/** Routes whose request bodies are uploads: long, streamed, bounded by idle time rather than total time. */
const UPLOAD_PREFIXES = ['/api/v1/uploads', '/api/v0/']

/** Route groups, each a function of the app and the components; one file per group. */
export type RouteGroup = (app: FastifyInstance, components: CoordinatorComponents) => void | Promise<void>

const ROUTE_GROUPS: RouteGroup[] = [
  healthRoutes,
  authRoutes,
  keyRoutes,
  accountRoutes,
  entryRoutes,
  contentRoutes,
  uploadRoutes,
  eventRoutes,
  usageRoutes,
  nodeRoutes,
  gatewayRoutes,
  shareRoutes,
  pinningServiceRoutes,
  portalRoutes,
  kuboRpcRoutes,
]

/**
 * Builds the coordinator's HTTP edge: validation, the error shape, rate limits, metrics,
 * the OpenAPI document and every route group. Listening is left to the caller.
 */
export async function buildCoordinatorApp(components: CoordinatorComponents): Promise<CoordinatorApp> {
  const { config } = components
  const app = Fastify({
    loggerInstance: components.logger.child({ component: 'coordinator:http' }) as FastifyBaseLogger,
    // requests are measured in /metrics; per-request log lines would drown the useful ones
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.limits.maxJsonBodyBytes,
    routerOptions: { maxParamLength: 2048 },
    // a request line or header block larger than this is refused with 431 by Node itself
    http: { maxHeaderSize: 16 * 1024 },
    // subdomain gateway hosts (<cid>.ipfs.<gateway host>) are routed as /ipfs/<cid>/…
    rewriteUrl: (request) => components.gatewayOrigin.rewriteUrl(request),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  })

  installErrorHandling(app)
  // before the rate limiter: preflights are answered at once, and a 429 is readable cross-origin
  installCors(app, originPolicy(config.cors.allowOrigins))
  installRequestBounds(app, {
    bodyTimeoutSeconds: config.limits.bodyTimeoutSeconds,
    maxConnectionsPerAddress: config.limits.maxConnectionsPerAddress,
    isUploadBody: (req) => UPLOAD_PREFIXES.some((prefix) => req.url?.startsWith(prefix)),
  })
  installRequestMetrics(app, components.metrics)
  installRequestCounting(app, components.authenticate, components.usage)
  await app.register(rateLimit, {
    max: config.auth.rateLimitPerMinute,
    timeWindow: 60_000,
    // one budget per API key (or account, for password tokens), else per address; the
    // token is verified first so a forged one cannot mint fresh budgets. Storage nodes are
    // not throttled: `/ipfs/` with a valid peer token (replication traffic) and the control
    // WebSocket (authenticated by its own challenge handshake, one per node).
    keyGenerator: async (request) => {
      const path = request.url
      if (path === NODE_CONTROL_PATH || path.startsWith(`${NODE_CONTROL_PATH}?`)) return PEER_KEY_PREFIX
      if (path.startsWith('/ipfs/')) {
        const token = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1]
        const peer = token === undefined ? undefined : await components.cluster.verifyPeer(token).catch(() => undefined)
        if (peer !== undefined) return `${PEER_KEY_PREFIX}${peer}`
      }
      const principal = await components.authenticate.principal(request).catch(() => undefined)
      return principal ? `key:${principal.keyId ?? principal.accountId}` : `ip:${request.ip}`
    },
    allowList: (_request, key) => key.startsWith(PEER_KEY_PREFIX),
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      error: { code: 'ERR_RATE_LIMITED', message: `rate limit exceeded, retry in ${Math.ceil(context.ttl / 1000)} s` },
    }),
  })
  installAuthenticateFirst(app, components.authenticate)
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Pinfold API', version: '1' },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
      security: [{ bearer: [] }],
    },
  })
  for (const group of ROUTE_GROUPS) await group(app, components)
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, () => app.swagger())
  return app
}
