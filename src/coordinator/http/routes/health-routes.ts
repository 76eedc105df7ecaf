import type { FastifyInstance } from 'fastify'
import type { CoordinatorComponents } from '../../components.ts'
import { sendError } from '../error-handler.ts'

/** Liveness, readiness and Prometheus metrics: unauthenticated, for orchestrators and scrapers. */
export function healthRoutes(app: FastifyInstance, { registry, repo, metrics }: CoordinatorComponents): void {
  app.get('/healthz', { schema: { hide: true }, config: { rateLimit: false } }, () => ({ status: 'ok' }))
  app.get('/readyz', { schema: { hide: true }, config: { rateLimit: false } }, async (_request, reply) => {
    try {
      await registry.ping()
      await repo.stat()
      return { status: 'ready' }
    } catch (error) {
      return sendError(reply, 503, 'ERR_NOT_READY', `not ready: ${(error as Error).message}`)
    }
  })
  app.get('/metrics', { schema: { hide: true }, config: { rateLimit: false } }, async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  )
}
