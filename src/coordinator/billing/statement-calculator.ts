/**
 * Statements: pure arithmetic, no I/O.
 *
 * Units and rounding (also in docs/api.md):
 * - GB = 10^9 bytes. A month is 730 hours (8760 / 12), so GB-months = byte-hours / (10^9 × 730).
 * - Money is integer **cents** (minor units; every currency is assumed to have two) and is
 *   shown as decimal strings (`"12.34"`). Prices come from the configuration as decimals and
 *   are converted once to integer nano-units (10^-9 of the currency), so no float drift
 *   builds up: every charge is computed in BigInt and rounded once, half up, to the cent.
 * - Storage byte-hours are summed as doubles by the registry and rounded to whole
 *   byte-hours before pricing (a byte-hour is ~10^-13 cents at usual prices).
 * - Each line (storage, egress) is rounded to the cent on its own; the period's subtotal
 *   is the sum of the rounded lines, so a statement always adds up.
 *
 * The dStor minimum rule: nothing is billed until the amount owed reaches the minimum
 * charge. A closed period whose accumulated total (carried in + this period's subtotal) is
 * below the minimum, or zero, is `below-minimum`: `amountDue` 0 and the whole total is
 * `carriedOver` into the next period. Once the accumulated total reaches the minimum
 * (exactly the minimum counts), the period is `due` with the whole accumulated amount and
 * nothing is carried over. The current period is `open`: it shows what has accrued so far
 * and is never due.
 */

export const BYTES_PER_GB = 1_000_000_000n
export const HOURS_PER_MONTH = 730n
const NANO = 1_000_000_000n
const CENTS_PER_UNIT = 100n

export interface PriceList {
  /** ISO 4217 code, e.g. USD. */
  currency: string
  storagePricePerGbMonth: number
  egressPricePerGb: number
  /** Nothing is billed until the accumulated amount reaches this (currency units). */
  minimumCharge: number
}

export interface PeriodUsage {
  storageByteHours: number
  uploadBytes: number
  downloadBytes: number
  requests: number
}

export interface PeriodInput {
  /** 1-based period number, counted from the account's creation. */
  period: number
  /** Inclusive start, ms since the epoch. */
  start: number
  /** Exclusive end, ms since the epoch. */
  end: number
  usage: PeriodUsage
  /** True for the current, unfinished period (must be the last one). */
  open: boolean
}

export type StatementStatus = 'open' | 'due' | 'below-minimum'

export interface Statement {
  period: number
  start: number
  end: number
  status: StatementStatus
  currency: string
  usage: PeriodUsage
  storageCents: number
  egressCents: number
  /** storageCents + egressCents. */
  subtotalCents: number
  /** Carried over from earlier periods that stayed below the minimum. */
  carriedInCents: number
  /** carriedInCents + subtotalCents. */
  totalCents: number
  /** What is billed for this period: totalCents when `due`, else 0. */
  amountDueCents: number
  /** Passed on to the next period: totalCents when `below-minimum`, else 0. */
  carriedOverCents: number
}

/** A non-negative decimal price (currency units) to integer nano-units. */
export function toNano(price: number): bigint {
  if (!Number.isFinite(price) || price < 0) throw new RangeError(`invalid price ${price}`)
  // toFixed(9) gives the decimal the configuration meant (0.1 → "0.100000000"), not the double
  const [whole = '0', fraction = ''] = price.toFixed(9).split('.')
  return BigInt(whole) * NANO + BigInt(fraction.padEnd(9, '0'))
}

/** Currency units (e.g. 10, 0.1) to integer cents, rounded half up. */
export function toCents(amount: number): number {
  return Number(divRoundHalfUp(toNano(amount) * CENTS_PER_UNIT, NANO))
}

/** Integer cents as a decimal string: 1234 → "12.34", -5 → "-0.05". */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? '-' : ''
  const abs = Math.abs(cents)
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`
}

function divRoundHalfUp(numerator: bigint, denominator: bigint): bigint {
  return (numerator * 2n + denominator) / (denominator * 2n)
}

function wholeNonNegative(value: number): bigint {
  if (!Number.isFinite(value) || value <= 0) return 0n
  return BigInt(Math.round(value))
}

/** Storage charge in cents: byte-hours → GB-months × price, rounded half up. */
export function storageCents(byteHours: number, pricePerGbMonth: number): number {
  const numerator = wholeNonNegative(byteHours) * toNano(pricePerGbMonth) * CENTS_PER_UNIT
  return Number(divRoundHalfUp(numerator, BYTES_PER_GB * HOURS_PER_MONTH * NANO))
}

/** Egress charge in cents: bytes downloaded → GB × price, rounded half up. */
export function egressCents(bytes: number, pricePerGb: number): number {
  const numerator = wholeNonNegative(bytes) * toNano(pricePerGb) * CENTS_PER_UNIT
  return Number(divRoundHalfUp(numerator, BYTES_PER_GB * NANO))
}

/** GB-months as a decimal string with 6 places (display only). */
export function gbMonths(byteHours: number): string {
  const micro = divRoundHalfUp(wholeNonNegative(byteHours) * 1_000_000n, BYTES_PER_GB * HOURS_PER_MONTH)
  return `${micro / 1_000_000n}.${String(micro % 1_000_000n).padStart(6, '0')}`
}

/**
 * Statements for consecutive periods, oldest first, applying the carry-over rule. `periods`
 * must be in order, starting with the account's first period (or with `carriedInCents`
 * for the first one given); only the last may be open.
 */
export function computeStatements(periods: readonly PeriodInput[], prices: PriceList, carriedInCents = 0): Statement[] {
  const minimumCents = toCents(prices.minimumCharge)
  let carried = carriedInCents
  const statements: Statement[] = []
  for (const [i, input] of periods.entries()) {
    if (input.open && i !== periods.length - 1) throw new RangeError('only the last period may be open')
    const storage = storageCents(input.usage.storageByteHours, prices.storagePricePerGbMonth)
    const egress = egressCents(input.usage.downloadBytes, prices.egressPricePerGb)
    const subtotal = storage + egress
    const total = carried + subtotal
    const due = !input.open && total > 0 && total >= minimumCents
    const status: StatementStatus = input.open ? 'open' : due ? 'due' : 'below-minimum'
    const carriedOver = status === 'below-minimum' ? total : 0
    statements.push({
      period: input.period,
      start: input.start,
      end: input.end,
      status,
      currency: prices.currency,
      usage: { ...input.usage },
      storageCents: storage,
      egressCents: egress,
      subtotalCents: subtotal,
      carriedInCents: carried,
      totalCents: total,
      amountDueCents: due ? total : 0,
      carriedOverCents: carriedOver,
    })
    carried = carriedOver
  }
  return statements
}

export interface PeriodBounds {
  period: number
  start: number
  end: number
}

/**
 * The period containing `at` for an account created at `createdAt`: periods are
 * `periodDays` long, the first starting at creation, numbered from 1. Times before creation
 * fall in period 1.
 */
export function periodAt(createdAt: number, periodDays: number, at: number): PeriodBounds {
  const length = periodDays * 86_400_000
  const index = Math.max(0, Math.floor((at - createdAt) / length))
  return periodBounds(createdAt, periodDays, index + 1)
}

export function periodBounds(createdAt: number, periodDays: number, period: number): PeriodBounds {
  const length = periodDays * 86_400_000
  const start = createdAt + (period - 1) * length
  return { period, start, end: start + length }
}
