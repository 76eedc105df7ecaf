import type { FastifyInstance } from 'fastify'
import type { CoordinatorMetrics } from '../metrics/coordinator-metrics.ts'

/** Times every request by route pattern (not raw URL, so label cardinality stays bounded). */
export function installRequestMetrics(app: FastifyInstance, metrics: CoordinatorMetrics): void {
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequests.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    )
  })
}
