import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  computeStatements,
  egressCents,
  formatCents,
  gbMonths,
  type PeriodInput,
  type PeriodUsage,
  periodAt,
  type PriceList,
  storageCents,
  toCents,
} from '../../src/coordinator/billing/index.ts'

const GB = 1e9
const prices: PriceList = { currency: 'USD', storagePricePerGbMonth: 0.1, egressPricePerGb: 0.05, minimumCharge: 10 }
const none: PeriodUsage = { storageByteHours: 0, uploadBytes: 0, downloadBytes: 0, requests: 0 }
const DAY = 86_400_000

function periods(usages: Partial<PeriodUsage>[], openLast = false): PeriodInput[] {
  return usages.map((usage, i) => ({
    period: i + 1,
    start: i * 30 * DAY,
    end: (i + 1) * 30 * DAY,
    usage: { ...none, ...usage },
    open: openLast && i === usages.length - 1,
  }))
}

/** Byte-hours of `gb` GB kept for one 730-hour month. */
const gbMonth = (gb: number) => gb * GB * 730

describe('billing: statement calculator', () => {
  it('prices storage in GB-months (730 h, 10^9 bytes) and egress per GB, in cents', () => {
    assert.equal(storageCents(gbMonth(100), 0.1), 1000)
    assert.equal(storageCents(gbMonth(1), 0.1), 10)
    assert.equal(egressCents(200 * GB, 0.05), 1000)
    assert.equal(egressCents(0, 0.05), 0)
    assert.equal(gbMonths(gbMonth(1.5)), '1.500000')
  })

  it('rounds half up to the cent, once, without float drift', () => {
    // 0.1 + 0.2 style drift: 3 × 0.1 GB-month at 0.1/GB-month is exactly 3 cents
    assert.equal(storageCents(gbMonth(3), 0.1), 30)
    // 0.05 GB at 0.1/GB = 0.5 cent → rounds up to 1
    assert.equal(egressCents(0.05 * GB, 0.1), 1)
    // 0.049999999 GB → 0.4999999 cent → 0
    assert.equal(egressCents(0.049_999_999 * GB, 0.1), 0)
    assert.equal(toCents(10), 1000)
    assert.equal(toCents(0.1 + 0.2), 30)
    assert.equal(toCents(19.995), 2000)
    assert.equal(formatCents(1234), '12.34')
    assert.equal(formatCents(5), '0.05')
    assert.equal(formatCents(0), '0.00')
    // a large bill stays exact: 10 PB-months at 0.1
    assert.equal(storageCents(gbMonth(10_000_000), 0.1), 100_000_000)
  })

  it('carries amounts below the minimum over until the accumulated total reaches it', () => {
    // 40 GB-months × 0.1 = 4.00 per period: 4, 8 carried over, 12 due, then 4 carried again
    const s = computeStatements(periods([{ storageByteHours: gbMonth(40) }, { storageByteHours: gbMonth(40) }, { storageByteHours: gbMonth(40) }, { storageByteHours: gbMonth(40) }]), prices)
    assert.deepEqual(
      s.map((x) => [x.status, x.subtotalCents, x.carriedInCents, x.totalCents, x.amountDueCents, x.carriedOverCents]),
      [
        ['below-minimum', 400, 0, 400, 0, 400],
        ['below-minimum', 400, 400, 800, 0, 800],
        ['due', 400, 800, 1200, 1200, 0],
        ['below-minimum', 400, 0, 400, 0, 400],
      ],
    )
  })

  it('bills a period whose accumulated amount is exactly the minimum', () => {
    const s = computeStatements(periods([{ storageByteHours: gbMonth(60) }, { downloadBytes: 80 * GB }]), prices)
    assert.equal(s[0]?.status, 'below-minimum')
    assert.equal(s[0]?.carriedOverCents, 600)
    assert.equal(s[1]?.egressCents, 400)
    assert.equal(s[1]?.status, 'due')
    assert.equal(s[1]?.amountDueCents, 1000)
    assert.equal(s[1]?.carriedOverCents, 0)
  })

  it('bills one large period at once and lines add up', () => {
    const [s] = computeStatements(periods([{ storageByteHours: gbMonth(123.456), downloadBytes: 333.333 * GB }]), prices)
    assert.ok(s)
    assert.equal(s.storageCents, 1235) // 12.3456
    assert.equal(s.egressCents, 1667) // 16.66665
    assert.equal(s.subtotalCents, s.storageCents + s.egressCents)
    assert.equal(s.status, 'due')
    assert.equal(s.amountDueCents, 2902)
  })

  it('zero usage is never due, even with no minimum', () => {
    const s = computeStatements(periods([{}, {}]), { ...prices, minimumCharge: 0 })
    for (const x of s) {
      assert.equal(x.status, 'below-minimum')
      assert.equal(x.totalCents, 0)
      assert.equal(x.amountDueCents, 0)
      assert.equal(x.carriedOverCents, 0)
    }
    // without a minimum any positive amount is due
    const [one] = computeStatements(periods([{ downloadBytes: 0.2 * GB }]), { ...prices, minimumCharge: 0 })
    assert.equal(one?.status, 'due')
    assert.equal(one?.amountDueCents, 1)
  })

  it('the open period accrues (carried-in included) but is never due', () => {
    const s = computeStatements(periods([{ storageByteHours: gbMonth(50) }, { storageByteHours: gbMonth(200) }], true), prices)
    assert.equal(s[1]?.status, 'open')
    assert.equal(s[1]?.carriedInCents, 500)
    assert.equal(s[1]?.totalCents, 2500)
    assert.equal(s[1]?.amountDueCents, 0)
    assert.equal(s[1]?.carriedOverCents, 0)
    assert.throws(() => computeStatements([...periods([{}], true), ...periods([{}])], prices), RangeError)
  })

  it('numbers periods from the account creation', () => {
    const created = Date.UTC(2025, 0, 15)
    assert.deepEqual(periodAt(created, 30, created), { period: 1, start: created, end: created + 30 * DAY })
    assert.equal(periodAt(created, 30, created + 30 * DAY - 1).period, 1)
    assert.equal(periodAt(created, 30, created + 30 * DAY).period, 2)
    assert.equal(periodAt(created, 30, created - DAY).period, 1)
  })
})
