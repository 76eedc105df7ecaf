import { sql } from 'kysely'
import { invalidArgument, now, type RegistryContext } from './db.ts'

export type UsageKind = 'storage_byte_hours' | 'upload_bytes' | 'download_bytes' | 'requests'
export const USAGE_KINDS: readonly UsageKind[] = ['storage_byte_hours', 'upload_bytes', 'download_bytes', 'requests']

export type UsageTotals = Record<UsageKind, number>

/** One time bucket of {@link Usage.series}: sums per kind of the records with `start ≤ ts < start + bucket`. */
export interface UsageBucket extends UsageTotals {
  /** Bucket start, ms since the epoch (a multiple of the bucket length: UTC-aligned). */
  start: number
}

/**
 * Usage metering: append-only records per account. Callers may aggregate before recording
 * (e.g. one `requests` record per minute) to keep the table small.
 */
export class Usage {
  readonly #ctx: RegistryContext

  constructor(ctx: RegistryContext) {
    this.#ctx = ctx
  }

  /** Appends one record (`amount` ≥ 0) at `ts` (default now). */
  async record(accountId: string, kind: UsageKind, amount: number, ts: number = now()): Promise<void> {
    if (!USAGE_KINDS.includes(kind)) throw invalidArgument(`invalid usage kind ${JSON.stringify(kind)}`)
    if (!Number.isFinite(amount) || amount < 0) throw invalidArgument('usage amount must be a finite number ≥ 0')
    if (!Number.isSafeInteger(ts)) throw invalidArgument('usage ts must be integer milliseconds')
    await this.#ctx.db.insertInto('usage_records').values({ account_id: accountId, kind, amount, ts }).execute()
  }

  /** Sums per kind of the account's records with `from ≤ ts < to`; kinds without records are 0. */
  async totals(accountId: string, from: number, to: number): Promise<UsageTotals> {
    const rows = await this.#ctx.db
      .selectFrom('usage_records')
      .select((eb) => ['kind', eb.fn.sum<number>('amount').as('total')])
      .where('account_id', '=', accountId)
      .where('ts', '>=', from)
      .where('ts', '<', to)
      .groupBy('kind')
      .execute()
    const totals: UsageTotals = { storage_byte_hours: 0, upload_bytes: 0, download_bytes: 0, requests: 0 }
    for (const r of rows) if (USAGE_KINDS.includes(r.kind as UsageKind)) totals[r.kind as UsageKind] = Number(r.total)
    return totals
  }

  /** Newest `ts` of any account's records of `kind`, or undefined when there are none. */
  async latestTs(kind: UsageKind): Promise<number | undefined> {
    const row = await this.#ctx.db
      .selectFrom('usage_records')
      .select((eb) => eb.fn.max('ts').as('latest'))
      .where('kind', '=', kind)
      .executeTakeFirst()
    return row?.latest === null || row?.latest === undefined ? undefined : Number(row.latest)
  }

  /**
   * Sums per kind of the account's records with `from ≤ ts < to`, grouped into buckets of
   * `bucketMs` aligned to the epoch (so hour and day buckets are UTC hours and days). Only
   * buckets holding records are returned, oldest first.
   */
  async series(accountId: string, from: number, to: number, bucketMs: number): Promise<UsageBucket[]> {
    if (!Number.isSafeInteger(bucketMs) || bucketMs < 1) throw invalidArgument('bucket must be a positive integer of ms')
    // integer arithmetic on an integer column with an integer literal: the same in SQLite and PostgreSQL
    const start = sql<number>`(ts - (ts % ${sql.lit(bucketMs)}))`
    const rows = await this.#ctx.db
      .selectFrom('usage_records')
      .select((eb) => [start.as('bucket'), 'kind', eb.fn.sum<number>('amount').as('total')])
      .where('account_id', '=', accountId)
      .where('ts', '>=', from)
      .where('ts', '<', to)
      .groupBy([start, 'kind'])
      .orderBy(start)
      .execute()
    const buckets = new Map<number, UsageBucket>()
    for (const r of rows) {
      const at = Number(r.bucket)
      let bucket = buckets.get(at)
      if (!bucket) {
        bucket = { start: at, storage_byte_hours: 0, upload_bytes: 0, download_bytes: 0, requests: 0 }
        buckets.set(at, bucket)
      }
      if (USAGE_KINDS.includes(r.kind as UsageKind)) bucket[r.kind as UsageKind] += Number(r.total)
    }
    return [...buckets.values()].sort((a, b) => a.start - b.start)
  }
}
