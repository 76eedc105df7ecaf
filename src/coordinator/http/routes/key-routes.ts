import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import { PinfoldError } from '../../../core/index.ts'
import type { ApiKey } from '../../../registry/index.ts'
import { ForbiddenError } from '../../auth/principal.ts'
import type { CoordinatorComponents } from '../../components.ts'
import { ErrorResponse, IdParams, isoTime, Timestamp } from '../schemas.ts'

const ScopeSchema = Type.Enum(['read', 'write', 'admin'])
const DAY_MS = 86_400_000

const ApiKeySchema = Type.Object({
  id: Type.String(),
  description: Type.String(),
  prefix: Type.String({ description: 'first characters of the secret, for recognising it' }),
  scopes: Type.Array(ScopeSchema),
  createdAt: Timestamp,
  expiresAt: Type.Union([Timestamp, Type.Null()]),
  revokedAt: Type.Union([Timestamp, Type.Null()]),
  lastUsedAt: Type.Union([Timestamp, Type.Null()]),
  status: Type.Enum(['active', 'expired', 'revoked']),
})

const CreateKeyBody = Type.Object(
  {
    description: Type.String({ maxLength: 200, default: '' }),
    scopes: Type.Array(ScopeSchema, { minItems: 1, maxItems: 3, uniqueItems: true, default: ['read', 'write'] }),
    expiresInDays: Type.Union([Type.Integer({ minimum: 1, maximum: 3650 }), Type.Null()], {
      default: 365,
      description: 'days until the key expires; null = never',
    }),
  },
  { additionalProperties: false },
)

function present(key: ApiKey, at = Date.now()) {
  const status = key.revokedAt !== null ? 'revoked' : key.expiresAt !== null && key.expiresAt <= at ? 'expired' : 'active'
  return {
    id: key.id,
    description: key.description,
    prefix: key.prefix,
    scopes: key.scopes,
    createdAt: isoTime(key.createdAt) ?? '',
    expiresAt: isoTime(key.expiresAt),
    revokedAt: isoTime(key.revokedAt),
    lastUsedAt: isoTime(key.lastUsedAt),
    status,
  }
}

/** API keys of the caller's account: create (secret shown once), list, revoke. */
export function keyRoutes(app: FastifyInstance, { registry, authenticate, revocations }: CoordinatorComponents): void {
  app.post(
    '/api/v1/keys',
    {
      schema: {
        tags: ['keys'],
        summary: 'Create an API key; the secret is returned only in this response',
        body: CreateKeyBody,
        response: { 201: Type.Object({ key: ApiKeySchema, secret: Type.String() }), 403: ErrorResponse },
      },
    },
    async (request, reply) => {
      const principal = await authenticate(request, 'write')
      const body = request.body as { description: string; scopes: ('read' | 'write' | 'admin')[]; expiresInDays: number | null }
      // a key can only hand out scopes its creator holds
      for (const scope of body.scopes) {
        if (!principal.scopes.has(scope)) throw new ForbiddenError(`cannot grant the ${scope} scope you do not hold`)
      }
      const created = await registry.apiKeys.create(principal.accountId, {
        description: body.description,
        scopes: body.scopes,
        expiresAt: body.expiresInDays === null ? null : Date.now() + body.expiresInDays * DAY_MS,
      })
      return reply.code(201).send({ key: present(created.key), secret: created.secret })
    },
  )
  app.get(
    '/api/v1/keys',
    { schema: { tags: ['keys'], summary: 'List the account’s API keys', response: { 200: Type.Object({ keys: Type.Array(ApiKeySchema) }) } } },
    async (request) => {
      const principal = await authenticate(request, 'read')
      return { keys: (await registry.apiKeys.list(principal.accountId)).map((key) => present(key)) }
    },
  )
  app.delete(
    '/api/v1/keys/:id',
    { schema: { tags: ['keys'], summary: 'Revoke an API key: no new tokens from it, its live tokens stop within seconds', params: IdParams, response: { 204: Type.Null(), 404: ErrorResponse } } },
    async (request, reply) => {
      const principal = await authenticate(request, 'write')
      const { id } = request.params as { id: string }
      if (!(await registry.apiKeys.revoke(principal.accountId, id))) {
        throw new PinfoldError('ERR_NOT_FOUND', `no API key ${id}`, { userError: true })
      }
      revocations.forget(principal.accountId)
      return reply.code(204).send()
    },
  )
}
