import websocket from '@fastify/websocket'
import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import { PinfoldError } from '../../../core/index.ts'
import type { Pin } from '../../../registry/index.ts'
import { requireAdmin } from '../../auth/principal.ts'
import { createGuessLimiter } from '../../auth/guess-limiter.ts'
import { CLOSE_CODES, type ControlSocket } from '../../cluster/index.ts'
import type { CoordinatorComponents } from '../../components.ts'
import { cidForms } from '../../files/cid-forms.ts'
import { ErrorResponse, IdParams, isoTime, Timestamp } from '../schemas.ts'

const CidParams = Type.Object({ cid: Type.String({ minLength: 2, maxLength: 200 }) })

// Response bodies (src/coordinator/cluster/cluster-service.ts: NodeView, UnderReplicatedPin,
// PinStatusView, with times as RFC 3339). The serializer drops any property not declared here.
const NullableTimestamp = Type.Union([Timestamp, Type.Null()])
const NodeStatusSchema = Type.Enum(['online', 'down', 'offline', 'revoked'])

const NodeViewSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  tags: Type.Record(Type.String(), Type.String()),
  status: NodeStatusSchema,
  state: Type.Enum(['up', 'down', 'gone'], { description: 'allocator view: up, down (copies still count) or gone (copies re-allocated)' }),
  connected: Type.Boolean(),
  draining: Type.Boolean(),
  gatewayUrl: Type.Union([Type.String(), Type.Null()], { description: 'the gateway URL the coordinator verified — the only one it hands to other nodes; null when none is' }),
  gatewayVerified: Type.Boolean({ description: 'whether the claimed gateway URL answered the identity challenge with the node’s key' }),
  claimedGatewayUrl: Type.Union([Type.String(), Type.Null()], { description: 'the gateway URL the node last reported, verified or not' }),
  gatewayError: Type.Union([Type.String(), Type.Null()], { description: 'why the claimed URL is not verified' }),
  ingestAccountId: Type.Union([Type.String(), Type.Null()], { description: 'account the node’s drop-folder files go to; null: the node may not ingest' }),
  lastSeen: NullableTimestamp,
  createdAt: NullableTimestamp,
  cursor: Type.Number(),
  capacity: Type.Object({
    totalBytes: Type.Number(),
    usedBytes: Type.Number(),
    availableBytes: Type.Number(),
    weightedAvailableBytes: Type.Number(),
  }),
  storage: Type.Array(
    Type.Object({ id: Type.String(), weight: Type.Number(), maxSize: Type.Number(), used: Type.Number(), available: Type.Number() }),
  ),
  pins: Type.Number(),
  queued: Type.Number(),
  failed: Type.Number(),
  version: Type.Union([Type.String(), Type.Null()]),
})

const UnderReplicatedPinSchema = Type.Object({
  cid: Type.String(),
  replicationMin: Type.Number(),
  replicationMax: Type.Number(),
  copies: Type.Number(),
  wanted: Type.Number(),
  reason: Type.String(),
  since: NullableTimestamp,
})

const PinStatusSchema = Type.Object({
  cid: Type.String(),
  replicationMin: Type.Number(),
  replicationMax: Type.Number(),
  underReplicated: Type.Union([UnderReplicatedPinSchema, Type.Null()], { description: 'null when the pin has its minimum copies' }),
  allocations: Type.Array(
    Type.Object({
      nodeId: Type.String(),
      nodeName: Type.Union([Type.String(), Type.Null()]),
      nodeStatus: Type.Enum(['online', 'down', 'offline', 'revoked', 'unknown']),
      status: Type.Enum(['queued', 'pinning', 'pinned', 'failed', 'unpinning', 'unpinned']),
      attempts: Type.Number(),
      reason: Type.Union([Type.String(), Type.Null()]),
      updatedAt: NullableTimestamp,
    }),
  ),
})

const SyncRequested = Type.Object({ requested: Type.Number({ description: 'how many node sessions were asked to sync' }) })

/**
 * The cluster's HTTP surface:
 * - `GET /api/v1/nodes/connect` — the storage nodes' control channel (WebSocket; the
 *   handshake in src/cluster/control-messages.ts is its authentication);
 * - admin: `GET /api/v1/nodes[/{id}]`, `PATCH /api/v1/nodes/{id}` (ingest account), `POST /api/v1/nodes/{id}/drain`, `DELETE
 *   /api/v1/nodes/{id}` (revoke), `POST /api/v1/nodes/{id}/sync`, `POST /api/v1/sync`,
 *   `GET /api/v1/pins?status=under-replicated`;
 * - `GET /api/v1/pins/{cid}/status` — every allocated node's status (account-scoped).
 */
export async function nodeRoutes(app: FastifyInstance, components: CoordinatorComponents): Promise<void> {
  const { cluster, authenticate, registry, config } = components
  await app.register(websocket, { options: { maxPayload: 4 * 1024 * 1024 + 1024 } })

  const secretGuesses = createGuessLimiter({
    maxFailures: config.cluster.joinFailuresPerAddress,
    windowSeconds: config.cluster.joinFailureWindowSeconds,
    what: 'joins with a wrong cluster secret from this address',
  })
  app.get('/api/v1/nodes/connect', { websocket: true, schema: { hide: true } }, (socket, request) => {
    const address = request.ip
    try {
      secretGuesses.check(address)
    } catch (error) {
      // blocked addresses get no challenge, so no proof is checked at all
      socket.send(JSON.stringify({ type: 'refused', code: 'ERR_RATE_LIMITED', message: (error as Error).message }))
      socket.close(CLOSE_CODES.refused, 'ERR_RATE_LIMITED')
      return
    }
    cluster.accept(socket as unknown as ControlSocket, {
      onRefused: (code) => (code === 'ERR_CLUSTER_SECRET' ? secretGuesses.failed(address) : undefined),
    })
  })

  const admin = async (request: Parameters<typeof authenticate>[0]) => requireAdmin(await authenticate(request, 'admin'))
  const present = <T extends { lastSeen: number | null; createdAt: number }>(node: T) => ({
    ...node,
    lastSeen: isoTime(node.lastSeen),
    createdAt: isoTime(node.createdAt),
  })
  const tags = ['nodes']

  app.get('/api/v1/nodes', { schema: { tags, summary: 'List storage nodes (admin)', response: { 200: Type.Object({ nodes: Type.Array(NodeViewSchema) }) } } }, async (request) => {
    await admin(request)
    return { nodes: (await cluster.listNodes()).map(present) }
  })

  app.get('/api/v1/nodes/:id', { schema: { tags, summary: 'One storage node (admin)', params: IdParams, response: { 200: NodeViewSchema, 404: ErrorResponse } } }, async (request) => {
    await admin(request)
    const { id } = request.params as { id: string }
    const node = await cluster.getNode(id)
    if (!node) throw new PinfoldError('ERR_NOT_FOUND', `no storage node ${id}`, { userError: true })
    return present(node)
  })

  app.patch(
    '/api/v1/nodes/:id',
    {
      schema: {
        tags,
        summary: 'Assign the account a node’s drop-folder files go to (admin; null: the node may not ingest)',
        params: IdParams,
        body: Type.Object({ ingestAccount: Type.Union([Type.String({ minLength: 3, maxLength: 320 }), Type.Null()], { description: 'account email' }) }, { additionalProperties: false }),
        response: { 200: NodeViewSchema, 404: ErrorResponse },
      },
    },
    async (request) => {
      await admin(request)
      const { ingestAccount } = request.body as { ingestAccount: string | null }
      let accountId: string | null = null
      if (ingestAccount !== null) {
        const account = await registry.accounts.getByEmail(ingestAccount)
        if (!account) throw new PinfoldError('ERR_NOT_FOUND', `no account ${ingestAccount}`, { userError: true })
        accountId = account.id
      }
      return present(await cluster.setIngestAccount((request.params as { id: string }).id, accountId))
    },
  )

  app.post(
    '/api/v1/nodes/:id/drain',
    {
      schema: {
        tags,
        summary: 'Move the node’s pins elsewhere, then release its copies (admin)',
        params: IdParams,
        response: { 202: NodeViewSchema, 404: ErrorResponse },
      },
    },
    async (request, reply) => {
      await admin(request)
      const node = await cluster.drain((request.params as { id: string }).id)
      return reply.code(202).send(present(node))
    },
  )

  app.delete(
    '/api/v1/nodes/:id',
    {
      schema: {
        tags,
        summary: 'Revoke a node: refused from now on, its pins re-allocated (admin)',
        params: IdParams,
        response: { 200: NodeViewSchema, 404: ErrorResponse },
      },
    },
    async (request) => {
      await admin(request)
      return present(await cluster.revoke((request.params as { id: string }).id))
    },
  )

  app.post('/api/v1/nodes/:id/sync', { schema: { tags, summary: 'Run anti-entropy with one node now (admin)', params: IdParams, response: { 202: SyncRequested, 404: ErrorResponse, 409: ErrorResponse } } }, async (request, reply) => {
    await admin(request)
    const { id } = request.params as { id: string }
    if (!(await registry.nodes.get(id))) throw new PinfoldError('ERR_NOT_FOUND', `no storage node ${id}`, { userError: true })
    const requested = cluster.requestSync(id, 'on demand')
    if (requested === 0) throw new PinfoldError('ERR_CONFLICT', `node ${id} is not connected to this coordinator`, { userError: true })
    return reply.code(202).send({ requested })
  })

  app.post('/api/v1/sync', { schema: { tags, summary: 'Run anti-entropy with every connected node now (admin)', response: { 202: SyncRequested } } }, async (request, reply) => {
    await admin(request)
    return reply.code(202).send({ requested: cluster.requestSync(undefined, 'on demand') })
  })

  app.get(
    '/api/v1/pins',
    {
      schema: {
        tags: ['pins'],
        summary: 'Pins in a replication state (admin); status=under-replicated lists pins below their minimum copies',
        querystring: Type.Object({ status: Type.Enum(['under-replicated']) }, { additionalProperties: false }),
        response: { 200: Type.Object({ pins: Type.Array(UnderReplicatedPinSchema) }) },
      },
    },
    async (request) => {
      await admin(request)
      return { pins: cluster.underReplicated().map((p) => ({ ...p, since: isoTime(p.since) })) }
    },
  )

  app.get(
    '/api/v1/pins/:cid/status',
    { schema: { tags: ['pins'], summary: 'Replication status of a pin on every allocated node', params: CidParams, response: { 200: PinStatusSchema, 404: ErrorResponse } } },
    async (request) => {
      const principal = await authenticate(request, 'read')
      const { cid } = request.params as { cid: string }
      const isAdmin = principal.role === 'admin' && principal.scopes.has('admin')
      let pin: Pin | undefined
      for (const form of cidForms(cid)) {
        pin = isAdmin ? await registry.pins.get(form) : await registry.pins.getForAccount(principal.accountId, form)
        if (pin) break
      }
      if (!pin) throw new PinfoldError('ERR_NOT_FOUND', `no pin ${cid}`, { userError: true })
      const status = await cluster.pinStatus(pin)
      return {
        ...status,
        underReplicated: status.underReplicated && { ...status.underReplicated, since: isoTime(status.underReplicated.since) },
        allocations: status.allocations.map((a) => ({ ...a, updatedAt: isoTime(a.updatedAt) })),
      }
    },
  )
}
