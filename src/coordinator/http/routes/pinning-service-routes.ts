import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { createAddressPolicy } from '../../../transfer/index.ts'
import type { CoordinatorComponents } from '../../components.ts'
import { notFound, PinningService, parseListQuery, parsePin, toPinningFailure } from '../../pinning-service/index.ts'

const PREFIX = '/pinning'

const doc = (summary: string, description?: string) => ({
  tags: ['pinning'],
  summary,
  ...(description ? { description } : {}),
})

/**
 * The IPFS Pinning Service API v1.0.0 under `/pinning` (clients are configured with
 * `{coordinator}/pinning` as the service endpoint). Bearer auth as every API; errors in
 * the spec's `{"error":{"reason","details"}}` shape, not Pinfold's. The service (and its
 * background origin fetches) lives with the app: resumed when it is ready, stopped on close.
 */
export async function pinningServiceRoutes(app: FastifyInstance, components: CoordinatorComponents): Promise<void> {
  const { config, registry, repo, releaseContent, authenticate, logger } = components
  const service = new PinningService({
    registry,
    repo,
    releaseContent,
    logger: logger.child({ component: 'coordinator:pinning-service' }),
    replication: { min: config.cluster.defaultReplicationMin, max: config.cluster.defaultReplicationMax },
    addressPolicy: createAddressPolicy({ allow: config.pinning.allowOrigins }),
    fetchConcurrency: config.pinning.fetchConcurrency,
    fetchTimeoutMs: config.pinning.fetchTimeoutSeconds * 1000,
    maxQueuedPerAccount: config.pinning.maxQueuedPerAccount,
  })
  app.addHook('onReady', async () => {
    service.resume().catch((err: unknown) => logger.error({ err }, 'could not resume pin requests'))
  })
  app.addHook('onClose', () => service.close())

  const selfUrl = (request: FastifyRequest) => config.publicUrl ?? `${request.protocol}://${request.host}`

  await app.register(
    async (scope) => {
      scope.setErrorHandler((error, request, reply) => {
        const { status, body } = toPinningFailure(error)
        if (status >= 500) request.log.error({ err: error }, 'pinning service request failed')
        if (status === 401) reply.header('www-authenticate', 'Bearer')
        return reply.code(status).type('application/json').send(body)
      })
      const noRoute = (request: FastifyRequest, reply: FastifyReply) =>
        reply
          .code(404)
          .type('application/json')
          .send({ error: { reason: 'NOT_FOUND', details: `no route for ${request.method} ${request.url.split('?')[0]}` } })
      scope.setNotFoundHandler(noRoute)
      // an explicit catch-all, so a wider wildcard elsewhere (the portal's SPA fallback) never answers under /pinning
      scope.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'], url: '/*', schema: { hide: true }, handler: noRoute })

      scope.get('/pins', { schema: doc('List pin requests', 'Filters: cid (CSV ≤ 10), name + match, status (CSV, default pinned), before, after, limit (1–1000, default 10), meta (JSON). Newest first; page with before = the oldest created seen.') }, async (request) => {
        const { accountId } = await authenticate(request, 'read')
        return service.list(accountId, parseListQuery(request.query as Record<string, unknown>), selfUrl(request))
      })

      scope.post('/pins', { schema: doc('Add a pin request (202 + PinStatus)') }, async (request, reply) => {
        const { accountId } = await authenticate(request, 'write')
        const status = await service.add(accountId, parsePin(request.body), selfUrl(request))
        return reply.code(202).send(status)
      })

      scope.get('/pins/:requestid', { schema: doc('Get a pin request and its status') }, async (request) => {
        const { accountId } = await authenticate(request, 'read')
        return service.get(accountId, requestId(request), selfUrl(request))
      })

      scope.post('/pins/:requestid', { schema: doc('Replace a pin request (new requestid; shared blocks are kept)') }, async (request, reply) => {
        const { accountId } = await authenticate(request, 'write')
        const id = requestId(request)
        const status = await service.replace(accountId, id, parsePin(request.body), selfUrl(request))
        return reply.code(202).send(status)
      })

      scope.delete('/pins/:requestid', { schema: doc('Remove a pin request (202)') }, async (request, reply) => {
        const { accountId } = await authenticate(request, 'write')
        await service.remove(accountId, requestId(request))
        return reply.code(202).send()
      })
    },
    { prefix: PREFIX },
  )
}

function requestId(request: FastifyRequest): string {
  const { requestid } = request.params as { requestid: string }
  if (requestid.length === 0 || requestid.length > 128) throw notFound(`no pin request ${requestid.slice(0, 128)}`)
  return requestid
}
