import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { Counter } from 'prom-client'
import Type from 'typebox'
import { PinfoldError } from '../../../core/index.ts'
import { type Account, normalizeEmail, type Role } from '../../../registry/index.ts'
import { ForbiddenError, requireAdmin } from '../../auth/principal.ts'
import type { CoordinatorComponents } from '../../components.ts'
import { ErrorResponse, IdParams, isoTime, Timestamp } from '../schemas.ts'

const RoleSchema = Type.Enum(['user', 'admin'])
const Email = Type.String({ minLength: 3, maxLength: 320, format: 'email' })
const Password = Type.String({ minLength: 8, maxLength: 1024 })
const Quota = (what: string) =>
  Type.Union([Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }), Type.Null()], {
    description: `${what} in bytes; 0 or null = unlimited`,
  })
const QuotaOut = (what: string) => Type.Union([Type.Integer(), Type.Null()], { description: `${what} in bytes; null = unlimited` })

const AccountSchema = Type.Object({
  id: Type.String(),
  email: Type.String(),
  role: RoleSchema,
  disabled: Type.Boolean(),
  createdAt: Timestamp,
  quotaStorageBytes: QuotaOut('most bytes stored'),
  quotaUploadBytes: QuotaOut('largest single upload'),
})

/** Usage of the current billing period so far. */
export const UsageSummarySchema = Type.Object({
  period: Type.Integer({ description: 'billing period number, from 1 at account creation' }),
  from: Timestamp,
  to: Timestamp,
  storageGbHours: Type.Number({ description: 'GB (10^9 bytes) × hours stored' }),
  uploadedBytes: Type.Number(),
  downloadedBytes: Type.Number(),
  requests: Type.Number(),
})

const AccountDetailSchema = Type.Object({
  ...AccountSchema.properties,
  storedBytes: Type.Integer({ description: 'bytes of distinct content the account references' }),
  usage: UsageSummarySchema,
})

const CreateAccountBody = Type.Object(
  {
    email: Email,
    password: Type.Optional(Password),
    role: Type.Optional(RoleSchema),
    quotaStorageBytes: Type.Optional(Quota('most bytes stored (default: limits.defaultQuotaStorageBytes)')),
    quotaUploadBytes: Type.Optional(Quota('largest single upload (default: limits.defaultQuotaUploadBytes)')),
  },
  { additionalProperties: false },
)

const UpdateAccountBody = Type.Object(
  {
    quotaStorageBytes: Type.Optional(Quota('most bytes stored')),
    quotaUploadBytes: Type.Optional(Quota('largest single upload')),
    disabled: Type.Optional(Type.Boolean({ description: 'a disabled account cannot obtain access tokens; its live ones stop within seconds' })),
    role: Type.Optional(RoleSchema),
    password: Type.Optional(Password),
  },
  { additionalProperties: false, minProperties: 1 },
)

const ChangePasswordBody = Type.Object(
  { password: Password, currentPassword: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
)

const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  },
  { additionalProperties: false },
)

interface UpdateAccount {
  quotaStorageBytes?: number | null
  quotaUploadBytes?: number | null
  disabled?: boolean
  role?: Role
  password?: string
}

/** 0 and null mean unlimited (stored as null); undefined leaves the value unchanged. */
function quota(value: number | null | undefined): number | null | undefined {
  return value === 0 ? null : value
}

export function presentAccount(account: Account) {
  return {
    id: account.id,
    email: account.email,
    role: account.role,
    disabled: account.disabled,
    createdAt: isoTime(account.createdAt) ?? '',
    quotaStorageBytes: account.quotaStorageBytes,
    quotaUploadBytes: account.quotaUploadBytes,
  }
}

function notFound(id: string): PinfoldError {
  return new PinfoldError('ERR_NOT_FOUND', `no account ${id}`, { userError: true })
}

/**
 * The caller's account (`/api/v1/account`) and, for admins, every account
 * (`/api/v1/accounts`): create with default quotas, list, inspect, change quotas, role,
 * password or disable.
 */
export function accountRoutes(app: FastifyInstance, components: CoordinatorComponents): void {
  const { registry, authenticate, billing, config, metrics, revocations, passwordGuesses } = components
  const created = new Counter({
    name: 'pinfold_accounts_created_total',
    help: 'accounts created through the API, by role',
    labelNames: ['role'],
    registers: [metrics.registry],
  })

  async function detail(account: Account) {
    const period = billing.currentPeriod(account)
    const [storedBytes, totals] = await Promise.all([
      registry.entries.storedBytes(account.id),
      registry.usage.totals(account.id, period.start, period.end),
    ])
    return {
      ...presentAccount(account),
      storedBytes,
      usage: {
        period: period.period,
        from: isoTime(period.start) ?? '',
        to: isoTime(period.end) ?? '',
        storageGbHours: totals.storage_byte_hours / 1e9,
        uploadedBytes: totals.upload_bytes,
        downloadedBytes: totals.download_bytes,
        requests: totals.requests,
      },
    }
  }

  async function existing(id: string): Promise<Account> {
    const account = await registry.accounts.get(id)
    if (!account) throw notFound(id)
    return account
  }

  app.get(
    '/api/v1/account',
    {
      schema: {
        tags: ['accounts'],
        summary: 'The caller’s account: quotas, bytes stored and usage of the current billing period',
        response: { 200: AccountDetailSchema, 401: ErrorResponse },
      },
    },
    async (request) => {
      const principal = await authenticate(request, 'read')
      return detail(await existing(principal.accountId))
    },
  )

  app.patch(
    '/api/v1/account',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Change the caller’s password (the current one is required); every session then signs in again',
        body: ChangePasswordBody,
        response: { 204: Type.Null(), 403: ErrorResponse },
      },
    },
    async (request, reply) => {
      const principal = await authenticate(request, 'write')
      const body = request.body as { password: string; currentPassword: string }
      // the same budget as sign-in: a stolen token must not be a faster password oracle
      const guessKey = normalizeEmail((await existing(principal.accountId)).email)
      passwordGuesses.check(guessKey)
      if (!(await registry.accounts.verifyPassword(principal.accountId, body.currentPassword))) {
        passwordGuesses.failed(guessKey)
        await sleep(config.auth.failedLoginDelayMs)
        throw new ForbiddenError('the current password is wrong')
      }
      passwordGuesses.succeeded(guessKey)
      await registry.accounts.setPassword(principal.accountId, body.password)
      revocations.forget(principal.accountId)
      return reply.code(204).send()
    },
  )

  app.post(
    '/api/v1/accounts',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Create an account (admin)',
        body: CreateAccountBody,
        response: { 201: AccountSchema, 403: ErrorResponse, 409: ErrorResponse },
      },
    },
    async (request, reply) => {
      requireAdmin(await authenticate(request, 'write'))
      const body = request.body as {
        email: string
        password?: string
        role?: Role
        quotaStorageBytes?: number | null
        quotaUploadBytes?: number | null
      }
      const account = await registry.accounts.create({
        email: body.email,
        password: body.password,
        role: body.role ?? 'user',
        quotaStorageBytes: quota(body.quotaStorageBytes === undefined ? config.limits.defaultQuotaStorageBytes : body.quotaStorageBytes),
        quotaUploadBytes: quota(body.quotaUploadBytes === undefined ? config.limits.defaultQuotaUploadBytes : body.quotaUploadBytes),
      })
      created.inc({ role: account.role })
      return reply.code(201).send(presentAccount(account))
    },
  )

  app.get(
    '/api/v1/accounts',
    {
      schema: {
        tags: ['accounts'],
        summary: 'List accounts, oldest first, paged (admin)',
        querystring: ListQuery,
        response: {
          200: Type.Object({
            accounts: Type.Array(AccountSchema),
            cursor: Type.Optional(Type.String({ description: 'pass as ?cursor= for the next page; absent on the last page' })),
          }),
          403: ErrorResponse,
        },
      },
    },
    async (request) => {
      requireAdmin(await authenticate(request, 'read'))
      const query = request.query as { limit?: number; cursor?: string }
      const page = await registry.accounts.list({ limit: query.limit, cursor: query.cursor })
      return { accounts: page.items.map(presentAccount), ...(page.cursor === undefined ? {} : { cursor: page.cursor }) }
    },
  )

  app.get(
    '/api/v1/accounts/:id',
    {
      schema: {
        tags: ['accounts'],
        summary: 'One account with bytes stored and current-period usage (admin)',
        params: IdParams,
        response: { 200: AccountDetailSchema, 403: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (request) => {
      requireAdmin(await authenticate(request, 'read'))
      const { id } = request.params as { id: string }
      return detail(await existing(id))
    },
  )

  app.patch(
    '/api/v1/accounts/:id',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Change an account’s quotas, role, password or disabled flag (admin)',
        params: IdParams,
        body: UpdateAccountBody,
        response: { 200: AccountSchema, 400: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (request) => {
      const principal = await authenticate(request, 'write')
      requireAdmin(principal)
      const { id } = request.params as { id: string }
      const body = request.body as UpdateAccount
      await existing(id)
      if (id === principal.accountId && (body.disabled === true || body.role === 'user')) {
        // the last way back in would be the database
        throw new PinfoldError('ERR_INVALID_ARGUMENT', 'an admin cannot disable or demote their own account', { userError: true })
      }
      if (body.quotaStorageBytes !== undefined || body.quotaUploadBytes !== undefined) {
        await registry.accounts.setQuota(id, {
          storageBytes: quota(body.quotaStorageBytes),
          uploadBytes: quota(body.quotaUploadBytes),
        })
      }
      if (body.role !== undefined) await registry.accounts.setRole(id, body.role)
      if (body.disabled !== undefined) await registry.accounts.setDisabled(id, body.disabled)
      if (body.password !== undefined) await registry.accounts.setPassword(id, body.password)
      revocations.forget(id)
      return presentAccount(await existing(id))
    },
  )
}
