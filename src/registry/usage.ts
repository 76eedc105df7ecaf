import { invalidArgument, now, type RegistryContext } from './db.ts'

export type UsageKind = 'storage_byte_hours' | 'upload_bytes' | 'download_bytes' | 'requests'
export const USAGE_KINDS: readonly UsageKind[] = ['storage_byte_hours', 'upload_bytes', 'download_bytes', 'requests']

export type UsageTotals = Record<UsageKind, number>

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
}
