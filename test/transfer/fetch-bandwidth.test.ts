import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createBandwidthLimiter, fetchDag } from '../../src/transfer/index.ts'
import { AuditedStore, goodSource, origin } from './fetch-fixture.ts'

const MiB = 1024 * 1024

describe('fetchDag: bandwidth cap', () => {
  it('2 MiB at 1 MiB/s takes about 2 s', async () => {
    const { store, twoMiB } = await origin()
    const source = await goodSource(store)
    const started = performance.now()
    const result = await fetchDag(twoMiB.cid, new AuditedStore(), {
      sources: [{ url: source.url }],
      bandwidthBytesPerSecond: MiB,
    })
    const seconds = (performance.now() - started) / 1000
    assert.equal(result.fetchedBytes, twoMiB.bytes)
    assert.ok(seconds >= 1.8 && seconds < 6, `took ${seconds.toFixed(2)} s`)
  })

  it('one limiter shared by two concurrent fetches caps their sum', async () => {
    const { store, oneMiB, twoMiB } = await origin()
    const source = await goodSource(store)
    const limiter = createBandwidthLimiter(1.5 * MiB)
    const started = performance.now()
    await Promise.all([
      fetchDag(oneMiB.cid, new AuditedStore(), { sources: [{ url: source.url }], bandwidthBytesPerSecond: limiter }),
      fetchDag(twoMiB.cid, new AuditedStore(), { sources: [{ url: source.url }], bandwidthBytesPerSecond: limiter }),
    ])
    const seconds = (performance.now() - started) / 1000
    assert.ok(seconds >= 1.8 && seconds < 6, `took ${seconds.toFixed(2)} s for 3 MiB at 1.5 MiB/s`)
  })

  it('refuses a non-positive rate', () => {
    assert.throws(() => createBandwidthLimiter(0), { code: 'ERR_INVALID_OPTION' })
  })
})
