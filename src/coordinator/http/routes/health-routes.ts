import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { CoordinatorComponents } from '../../components.ts'
import { sendError } from '../error-handler.ts'

/**
 * Liveness, readiness and Prometheus metrics, for orchestrators and scrapers: unauthenticated,
 * except `/metrics` when `metrics.token` is set (it names accounts' activity and the fleet).
 */
export function healthRoutes(app: FastifyInstance, { config, registry, repo, metrics, cluster }: CoordinatorComponents): void {
  app.get('/healthz', { schema: { hide: true }, config: { rateLimit: false } }, () => ({ status: 'ok' }))
  app.get('/readyz', { schema: { hide: true }, config: { rateLimit: false } }, async (_request, reply) => {
    try {
      await registry.ping()
      await repo.stat()
      // leader: this replica runs placement and reconcile (one of the replicas on a registry)
      return { status: 'ready', leader: cluster.leader }
    } catch (error) {
      return sendError(reply, 503, 'ERR_NOT_READY', `not ready: ${(error as Error).message}`)
    }
  })
  const metricsToken = config.metrics.token
  app.get('/metrics', { schema: { hide: true }, config: { rateLimit: false } }, async (request, reply) => {
    if (metricsToken !== undefined && !bearerMatches(request.headers.authorization, metricsToken)) {
      return sendError(reply.header('www-authenticate', 'Bearer'), 401, 'ERR_UNAUTHORIZED', '/metrics needs Authorization: Bearer <metrics.token>')
    }
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
  })
}

/** Constant-time comparison of `Authorization: Bearer <token>` with the expected token. */
function bearerMatches(header: string | undefined, expected: string): boolean {
  const given = Buffer.from(/^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1] ?? '')
  const wanted = Buffer.from(expected)
  return given.length === wanted.length && timingSafeEqual(given, wanted)
}
