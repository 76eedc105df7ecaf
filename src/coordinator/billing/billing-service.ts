import type { Account, Registry } from '../../registry/index.ts'
import type { CoordinatorConfig } from '../config/config-schema.ts'
import {
  computeStatements,
  type PeriodBounds,
  type PeriodInput,
  type PeriodUsage,
  periodAt,
  periodBounds,
  type PriceList,
  type Statement,
} from './statement-calculator.ts'

/**
 * Statements of an account from its usage records and the configured price list. Stateless:
 * statements are recomputed from the usage records on every call (one totals query per
 * period since the account's creation), so a price change applies to every period shown.
 */
export interface BillingService {
  readonly prices: PriceList
  /** The period containing `at` (default now). */
  currentPeriod(account: Account, at?: number): PeriodBounds
  /** Every statement from the first period to the open one, newest first. */
  statements(account: Account, at?: number): Promise<Statement[]>
  /** One period's statement (1-based); undefined for a period that has not started. */
  statement(account: Account, period: number, at?: number): Promise<Statement | undefined>
}

export function createBillingService(registry: Registry, billing: CoordinatorConfig['billing']): BillingService {
  const prices: PriceList = {
    currency: billing.currency,
    storagePricePerGbMonth: billing.storagePricePerGbMonth,
    egressPricePerGb: billing.egressPricePerGb,
    minimumCharge: billing.minimumCharge,
  }
  const currentPeriod = (account: Account, at = Date.now()) => periodAt(account.createdAt, billing.periodDays, at)

  async function usageOf(accountId: string, from: number, to: number): Promise<PeriodUsage> {
    const t = await registry.usage.totals(accountId, from, to)
    return {
      storageByteHours: t.storage_byte_hours,
      uploadBytes: t.upload_bytes,
      downloadBytes: t.download_bytes,
      requests: t.requests,
    }
  }

  /** Periods 1..last in order (carry-over needs them all). */
  async function compute(account: Account, last: number, at: number): Promise<Statement[]> {
    const open = currentPeriod(account, at).period
    const inputs: PeriodInput[] = []
    for (let period = 1; period <= last; period++) {
      const bounds = periodBounds(account.createdAt, billing.periodDays, period)
      inputs.push({ ...bounds, usage: await usageOf(account.id, bounds.start, bounds.end), open: period === open })
    }
    return computeStatements(inputs, prices)
  }

  return {
    prices,
    currentPeriod,
    async statements(account, at = Date.now()) {
      return (await compute(account, currentPeriod(account, at).period, at)).reverse()
    },
    async statement(account, period, at = Date.now()) {
      if (!Number.isSafeInteger(period) || period < 1 || period > currentPeriod(account, at).period) return undefined
      return (await compute(account, period, at)).at(-1)
    },
  }
}
