import type { FastifyInstance, FastifyRequest } from 'fastify'
import Type from 'typebox'
import { PinfoldError } from '../../../core/index.ts'
import type { Account } from '../../../registry/index.ts'
import { requireAdmin } from '../../auth/principal.ts'
import { formatCents, gbMonths, type Statement } from '../../billing/index.ts'
import type { CoordinatorComponents } from '../../components.ts'
import { ErrorResponse, isoTime, Timestamp } from '../schemas.ts'

const MS_PER_HOUR = 3_600_000
const BUCKET_MS = { hour: MS_PER_HOUR, day: 24 * MS_PER_HOUR } as const
const MAX_BUCKETS = 10_000

const Money = Type.String({ pattern: '^-?\\d+\\.\\d{2}$', description: 'decimal amount in the currency, two places' })

const AccountIdQuery = Type.Optional(
  Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$', description: 'another account (admin only)' }),
)

const RangeQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: 'date-time', description: 'inclusive; default: start of the current billing period' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'exclusive; default: end of the current billing period' })),
    accountId: AccountIdQuery,
  },
  { additionalProperties: false },
)

const SeriesQuery = Type.Object(
  { ...RangeQuery.properties, bucket: Type.Optional(Type.Enum(['hour', 'day'], { default: 'day' })) },
  { additionalProperties: false },
)

const UsageTotalsSchema = Type.Object({
  accountId: Type.String(),
  from: Timestamp,
  to: Timestamp,
  storageByteHours: Type.Number({ description: 'bytes × hours stored' }),
  storageGbHours: Type.Number({ description: 'GB (10^9 bytes) × hours stored' }),
  uploadedBytes: Type.Number(),
  downloadedBytes: Type.Number(),
  requests: Type.Number({ description: 'authenticated API requests' }),
})

const SeriesPoint = Type.Object({
  start: Timestamp,
  storedBytes: Type.Number({ description: 'average bytes stored over the bucket (byte-hours ÷ hours of the bucket elapsed)' }),
  storageByteHours: Type.Number(),
  uploadedBytes: Type.Number(),
  downloadedBytes: Type.Number(),
  requests: Type.Number(),
})

const StatementSchema = Type.Object({
  period: Type.Integer({ description: 'from 1, counted from the account’s creation' }),
  start: Timestamp,
  end: Timestamp,
  status: Type.Enum(['open', 'due', 'below-minimum'], {
    description: 'open: the current period, still accruing; due: billed; below-minimum: nothing billed, total carried over',
  }),
  currency: Type.String(),
  usage: Type.Object({
    storageGbHours: Type.Number(),
    storageGbMonths: Type.String({ description: 'GB-months (730 hours per month), six places' }),
    uploadedBytes: Type.Number(),
    downloadedBytes: Type.Number(),
    requests: Type.Number(),
  }),
  storage: Money,
  egress: Money,
  subtotal: Money,
  carriedIn: Money,
  total: Money,
  amountDue: Money,
  carriedOver: Money,
})

const StatementsResponse = Type.Object({
  accountId: Type.String(),
  currency: Type.String(),
  prices: Type.Object({ storagePerGbMonth: Type.Number(), egressPerGb: Type.Number(), minimumCharge: Money }),
  statements: Type.Array(StatementSchema),
})

function presentStatement(s: Statement) {
  return {
    period: s.period,
    start: isoTime(s.start) ?? '',
    end: isoTime(s.end) ?? '',
    status: s.status,
    currency: s.currency,
    usage: {
      storageGbHours: s.usage.storageByteHours / 1e9,
      storageGbMonths: gbMonths(s.usage.storageByteHours),
      uploadedBytes: s.usage.uploadBytes,
      downloadedBytes: s.usage.downloadBytes,
      requests: s.usage.requests,
    },
    storage: formatCents(s.storageCents),
    egress: formatCents(s.egressCents),
    subtotal: formatCents(s.subtotalCents),
    carriedIn: formatCents(s.carriedInCents),
    total: formatCents(s.totalCents),
    amountDue: formatCents(s.amountDueCents),
    carriedOver: formatCents(s.carriedOverCents),
  }
}

function invalid(message: string): PinfoldError {
  return new PinfoldError('ERR_INVALID_ARGUMENT', message, { userError: true })
}

/**
 * Usage (`/api/v1/usage`, `/api/v1/usage/series`) and billing statements
 * (`/api/v1/billing/statements`) of the caller's account; admins may name another with
 * `?accountId=`.
 */
export function usageRoutes(app: FastifyInstance, { registry, authenticate, billing }: CoordinatorComponents): void {
  /** The account a request is about: the caller's, or (admin only) the one named. */
  async function target(request: FastifyRequest, accountId: string | undefined): Promise<Account> {
    const principal = await authenticate(request, 'read')
    const id = accountId ?? principal.accountId
    if (id !== principal.accountId) requireAdmin(principal)
    const account = await registry.accounts.get(id)
    if (!account) throw new PinfoldError('ERR_NOT_FOUND', `no account ${id}`, { userError: true })
    return account
  }

  function range(account: Account, query: { from?: string; to?: string }): { from: number; to: number } {
    const period = billing.currentPeriod(account)
    const from = query.from === undefined ? period.start : Date.parse(query.from)
    const to = query.to === undefined ? period.end : Date.parse(query.to)
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to)) throw invalid('from and to must be RFC 3339 date-times')
    if (to <= from) throw invalid('to must be after from')
    return { from, to }
  }

  app.get(
    '/api/v1/usage',
    {
      schema: {
        tags: ['usage'],
        summary: 'Usage totals over a time range (default: the current billing period)',
        querystring: RangeQuery,
        response: { 200: UsageTotalsSchema, 400: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (request) => {
      const query = request.query as { from?: string; to?: string; accountId?: string }
      const account = await target(request, query.accountId)
      const { from, to } = range(account, query)
      const totals = await registry.usage.totals(account.id, from, to)
      return {
        accountId: account.id,
        from: isoTime(from) ?? '',
        to: isoTime(to) ?? '',
        storageByteHours: totals.storage_byte_hours,
        storageGbHours: totals.storage_byte_hours / 1e9,
        uploadedBytes: totals.upload_bytes,
        downloadedBytes: totals.download_bytes,
        requests: totals.requests,
      }
    },
  )

  app.get(
    '/api/v1/usage/series',
    {
      schema: {
        tags: ['usage'],
        summary: 'Usage per UTC hour or day over a time range, for charts (every bucket present, empty ones zero)',
        querystring: SeriesQuery,
        response: {
          200: Type.Object({ accountId: Type.String(), bucket: Type.Enum(['hour', 'day']), from: Timestamp, to: Timestamp, points: Type.Array(SeriesPoint) }),
          400: ErrorResponse,
          403: ErrorResponse,
          404: ErrorResponse,
        },
      },
    },
    async (request) => {
      const query = request.query as { from?: string; to?: string; accountId?: string; bucket: 'hour' | 'day' }
      const account = await target(request, query.accountId)
      const { from, to } = range(account, query)
      const bucketMs = BUCKET_MS[query.bucket]
      const first = from - (from % bucketMs)
      if ((to - first) / bucketMs > MAX_BUCKETS) throw invalid(`at most ${MAX_BUCKETS} buckets: narrow the range or use day buckets`)
      const found = new Map((await registry.usage.series(account.id, from, to, bucketMs)).map((b) => [b.start, b]))
      const now = Date.now()
      const points = []
      for (let start = first; start < to; start += bucketMs) {
        const b = found.get(start)
        const elapsedHours = Math.max(Math.min(start + bucketMs, now) - start, 1) / MS_PER_HOUR
        const byteHours = b?.storage_byte_hours ?? 0
        points.push({
          start: isoTime(start) ?? '',
          storedBytes: start > now ? 0 : Math.round(byteHours / elapsedHours),
          storageByteHours: byteHours,
          uploadedBytes: b?.upload_bytes ?? 0,
          downloadedBytes: b?.download_bytes ?? 0,
          requests: b?.requests ?? 0,
        })
      }
      return { accountId: account.id, bucket: query.bucket, from: isoTime(from) ?? '', to: isoTime(to) ?? '', points }
    },
  )

  const pricesOut = () => ({
    storagePerGbMonth: billing.prices.storagePricePerGbMonth,
    egressPerGb: billing.prices.egressPricePerGb,
    minimumCharge: billing.prices.minimumCharge.toFixed(2),
  })

  app.get(
    '/api/v1/billing/statements',
    {
      schema: {
        tags: ['billing'],
        summary: 'Statements per billing period, newest first, starting with the open current period',
        querystring: Type.Object({ accountId: AccountIdQuery }, { additionalProperties: false }),
        response: { 200: StatementsResponse, 403: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (request) => {
      const account = await target(request, (request.query as { accountId?: string }).accountId)
      const statements = await billing.statements(account)
      return { accountId: account.id, currency: billing.prices.currency, prices: pricesOut(), statements: statements.map(presentStatement) }
    },
  )

  app.get(
    '/api/v1/billing/statements/:period',
    {
      schema: {
        tags: ['billing'],
        summary: 'The statement of one billing period',
        params: Type.Object({ period: Type.Integer({ minimum: 1, maximum: 1_000_000 }) }),
        querystring: Type.Object({ accountId: AccountIdQuery }, { additionalProperties: false }),
        response: { 200: StatementSchema, 403: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (request) => {
      const account = await target(request, (request.query as { accountId?: string }).accountId)
      const { period } = request.params as { period: number }
      const statement = await billing.statement(account, period)
      if (!statement) throw new PinfoldError('ERR_NOT_FOUND', `billing period ${period} has not started`, { userError: true })
      return presentStatement(statement)
    },
  )
}
