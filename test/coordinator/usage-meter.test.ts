import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { pino } from 'pino'
import { createCoordinatorMetrics } from '../../src/coordinator/metrics/coordinator-metrics.ts'
import { createUsageMeter } from '../../src/coordinator/usage/index.ts'
import { openRegistry, type Registry } from '../../src/registry/index.ts'

const HOUR = 3_600_000
const CID_A = 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD'
const CID_B = 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH'

describe('usage meter (registry, explicit clock)', () => {
  let dir: string
  let registry: Registry
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pinfold-usage-'))
    registry = await openRegistry(`sqlite:${join(dir, 'registry.sqlite')}`)
  })
  after(async () => {
    await registry.close()
    await rm(dir, { recursive: true, force: true })
  })

  const meterAt = (clock: { t: number }) =>
    createUsageMeter({
      registry,
      logger: pino({ level: 'silent' }),
      metrics: createCoordinatorMetrics(),
      sampleIntervalMs: HOUR,
      flushIntervalMs: 60_000,
      now: () => clock.t,
    })

  it('records stored bytes × hours since the previous sample, across restarts, without double counting', async () => {
    const a = await registry.accounts.create({ email: 'a@example.com' })
    const b = await registry.accounts.create({ email: 'b@example.com' })
    const idle = await registry.accounts.create({ email: 'idle@example.com' })
    await registry.entries.addFile(a.id, '/Library', { name: 'a.bin', cid: CID_A, size: 1_000_000_000 })
    await registry.entries.addFile(b.id, '/Library', { name: 'b.bin', cid: CID_B, size: 2_000_000_000 })
    // the same content twice in one account counts once
    await registry.entries.addFile(b.id, '/Library', { name: 'b-copy.bin', cid: CID_B, size: 2_000_000_000 })

    const t0 = Date.UTC(2030, 0, 1)
    const clock = { t: t0 }
    const first = meterAt(clock)
    assert.equal(await first.sampleStorage(t0 + HOUR), 2)
    assert.equal(await first.sampleStorage(t0 + 1.5 * HOUR), 2)
    await first.close()

    // a restart 1.5 h later: the downtime is counted at the next sample, once
    clock.t = t0 + 3 * HOUR
    const second = meterAt(clock)
    assert.equal(await second.sampleStorage(t0 + 4 * HOUR), 2)
    assert.equal(await second.sampleStorage(t0 + 4 * HOUR), 0, 'no time elapsed: nothing recorded')
    await second.close()

    const range = [t0, t0 + 5 * HOUR] as const
    const ta = await registry.usage.totals(a.id, ...range)
    const tb = await registry.usage.totals(b.id, ...range)
    assert.equal(ta.storage_byte_hours, 4 * 1e9)
    assert.equal(tb.storage_byte_hours, 4 * 2e9)
    assert.equal((await registry.usage.totals(idle.id, ...range)).storage_byte_hours, 0)
  })

  it('flushes request counts as one record per account, and at close', async () => {
    const c = await registry.accounts.create({ email: 'c@example.com' })
    const t = Date.UTC(2031, 0, 1)
    const meter = meterAt({ t })
    meter.countRequest(c.id)
    meter.countRequest(c.id)
    meter.countRequest(c.id)
    assert.equal(await meter.flushRequests(t), 1)
    assert.equal(await meter.flushRequests(t), 0)
    meter.countRequest(c.id)
    await meter.close()
    assert.equal((await registry.usage.totals(c.id, t, t + 1)).requests, 4)
  })
})
