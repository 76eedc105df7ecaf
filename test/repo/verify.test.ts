import assert from 'node:assert/strict'
import { unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { DatabaseSync } from 'node:sqlite'
import type { CID } from 'multiformats/cid'
import { importBytes } from '../../src/core/index.ts'
import { initRepo, openRepo } from '../../src/repo/index.ts'
import { createBandwidthLimiter } from '../../src/transfer/index.ts'
import { pseudoRandom, tempDir, walkAll } from './helpers.ts'

/** The pack file holding `cid` (with batchBlocks: 1, a pack holds exactly one block). */
function fileOf(dir: string, cid: CID): string {
  const db = new DatabaseSync(join(dir, 'index.sqlite'), { readOnly: true })
  try {
    const row = db.prepare('SELECT pack, off FROM blocks WHERE mh = ?').get(cid.multihash.bytes) as { pack: string; off: number }
    assert.equal(row.off, 0)
    return join(dir, 'store', 'blocks', 'packs', `${row.pack}.pack`)
  } finally {
    db.close()
  }
}

describe('verify', () => {
  it('finds a block changed on disk and a deleted one, reports damaged pins, and drop removes them', async () => {
    const dir = await tempDir()
    await initRepo(dir)
    const repo = await openRepo(dir, { batchBlocks: 1 })
    const damaged = await importBytes(pseudoRandom(1_000_000, 1), repo.blocks)
    const healthy = await importBytes(pseudoRandom(1_000_000, 2), repo.blocks)
    await repo.pins.add(damaged.cid)
    await repo.pins.add(healthy.cid)
    const clean = await repo.verify()
    assert.equal(clean.checked, (await repo.stat()).blocks)
    assert.deepEqual([clean.corrupt, clean.missing, clean.damagedPins], [[], [], []])

    const [, leaf1, leaf2] = await walkAll(repo.blocks, damaged.cid)
    assert.ok(leaf1 && leaf2)
    await writeFile(fileOf(dir, leaf1), 'not the right bytes')
    await unlink(fileOf(dir, leaf2))

    const report = await repo.verify()
    assert.deepEqual(report.corrupt.map(String), [leaf1.toString()])
    assert.deepEqual(report.missing.map(String), [leaf2.toString()])
    assert.equal(report.dropped, 0)
    assert.deepEqual(report.damagedPins.map(String), [damaged.cid.toString()])

    const dropped = await repo.verify({ drop: true })
    assert.equal(dropped.dropped, 2)
    assert.deepEqual(dropped.damagedPins.map(String), [damaged.cid.toString()])
    assert.equal(await repo.blocks.has(leaf1), false)
    assert.equal(await repo.blocks.has(leaf2), false)
    // The pin is reported, not silently removed; the healthy DAG is untouched.
    assert.ok(await repo.pins.get(damaged.cid))
    await walkAll(repo.blocks, healthy.cid)

    const after = await repo.verify()
    assert.deepEqual([after.corrupt, after.missing], [[], []])
    assert.deepEqual(after.damagedPins.map(String), [damaged.cid.toString()])
    // Re-adding the content heals the DAG.
    await importBytes(pseudoRandom(1_000_000, 1), repo.blocks)
    assert.deepEqual((await repo.verify()).damagedPins, [])
    await repo.close()
  })

  it('a throttled verify reads no faster than its cap (the scrub leaves the disk to serving)', async () => {
    const dir = await tempDir()
    await initRepo(dir)
    const repo = await openRepo(dir)
    try {
      await importBytes(pseudoRandom(2_000_000, 3), repo.blocks)
      const { bytes } = await repo.stat()
      const bytesPerSecond = 4_000_000
      const burstBytes = 64 * 1024
      const started = performance.now()
      const result = await repo.verify({ throttle: createBandwidthLimiter(bytesPerSecond, { burstBytes }) })
      const ms = performance.now() - started
      assert.equal(result.checked, (await repo.stat()).blocks)
      const floorMs = ((bytes - burstBytes) / bytesPerSecond) * 1000
      assert.ok(ms >= floorMs * 0.95, `${bytes} bytes verified in ${ms.toFixed(0)} ms at a cap of ${bytesPerSecond} B/s (at least ${floorMs.toFixed(0)} ms)`)
      assert.ok(ms < floorMs + 10_000, `throttled verify took ${ms.toFixed(0)} ms`)
    } finally {
      await repo.close()
    }
  })
})
