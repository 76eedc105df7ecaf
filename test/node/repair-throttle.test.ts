import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { importBytes } from '../../src/core/index.ts'
import { resolveNodeConfig } from '../../src/node/config.ts'
import { Repairer } from '../../src/node/repair.ts'
import { createBandwidthLimiter } from '../../src/transfer/index.ts'
import { freshRepo, pseudoRandom } from '../repo/helpers.ts'

const base = { join: 'http://127.0.0.1:1', secret: 'a-cluster-secret-of-16+' }

describe('node repair throttle', () => {
  it('--repair-bandwidth defaults to 100 MB/s, 0 turns the cap off, anything else is refused', () => {
    assert.equal(resolveNodeConfig(base).repairBandwidth, 100_000_000)
    assert.equal(resolveNodeConfig({ ...base, repairBandwidth: '0' }).repairBandwidth, 0)
    assert.equal(resolveNodeConfig({ ...base, repairBandwidth: '50MB/s' }).repairBandwidth, 50_000_000)
    assert.throws(() => resolveNodeConfig({ ...base, repairBandwidth: 'fast' }), { code: 'ERR_INVALID_OPTION', message: /--repair-bandwidth/ })
  })

  it('a repair run reads no faster than its cap', async () => {
    const repo = await freshRepo()
    try {
      await importBytes(pseudoRandom(1_500_000, 4), repo.blocks)
      const { bytes } = await repo.stat()
      const bytesPerSecond = 3_000_000
      const burstBytes = 64 * 1024
      const repairer = new Repairer({
        repo,
        enqueue: () => {},
        logger: pino({ level: 'silent' }),
        intervalMs: 0,
        throttle: () => createBandwidthLimiter(bytesPerSecond, { burstBytes }),
      })
      const started = performance.now()
      const result = await repairer.run()
      const ms = performance.now() - started
      assert.equal(result.corrupt.length + result.missing.length, 0)
      const floorMs = ((bytes - burstBytes) / bytesPerSecond) * 1000
      assert.ok(ms >= floorMs * 0.95, `${bytes} bytes repaired in ${ms.toFixed(0)} ms at ${bytesPerSecond} B/s (at least ${floorMs.toFixed(0)} ms)`)
      assert.ok(ms < floorMs + 10_000, `throttled repair took ${ms.toFixed(0)} ms`)
      await repairer.stop()
    } finally {
      await repo.close()
    }
  })
})
