import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { importBytes } from '../../src/core/index.ts'
import { freshRepo, pseudoRandom, rawBlock, walkAll } from './helpers.ts'

/** A dag-pb node linking `children`. */
async function node(children: CID[], data: string): Promise<{ cid: CID; bytes: Uint8Array }> {
  const bytes = dagPb.encode(
    dagPb.prepare({ Data: new TextEncoder().encode(data), Links: children.map((Hash) => ({ Hash })) }),
  )
  return { cid: CID.createV0(await sha256.digest(bytes)), bytes }
}

describe('pins and GC', () => {
  it('two DAGs sharing blocks: rm one pin + gc keeps the other fully readable', async () => {
    const repo = await freshRepo()
    const shared = await rawBlock(pseudoRandom(5000, 1))
    const onlyA = await rawBlock(pseudoRandom(5000, 2))
    const onlyB = await rawBlock(pseudoRandom(5000, 3))
    const a = await node([shared.cid, onlyA.cid], 'a')
    const b = await node([shared.cid, onlyB.cid], 'b')
    for (const blk of [shared, onlyA, onlyB, a, b]) await repo.blocks.put(blk.cid, blk.bytes)
    const pinA = await repo.pins.add(a.cid, { name: 'a' })
    assert.equal(pinA.recursive, true)
    assert.equal(pinA.name, 'a')
    await repo.pins.add(b.cid)
    assert.equal((await repo.gc()).removedBlocks, 0)
    assert.equal(await repo.pins.rm(a.cid), true)
    assert.equal(await repo.pins.rm(a.cid), false)
    const result = await repo.gc()
    assert.equal(result.removedBlocks, 2) // a and onlyA
    assert.equal(result.removedBytes, a.bytes.byteLength + 5000)
    assert.equal((await walkAll(repo.blocks, b.cid)).length, 3)
    assert.equal(await repo.blocks.has(onlyA.cid), false)
    assert.equal(await repo.blocks.has(a.cid), false)
    const pins = []
    for await (const p of repo.pins.ls()) pins.push(p.cid.toString())
    assert.deepEqual(pins, [b.cid.toString()])
  })

  it('refuses to pin an incomplete DAG, naming the first missing block', async () => {
    const repo = await freshRepo()
    const present = await rawBlock(pseudoRandom(100, 4))
    const absent = await rawBlock(pseudoRandom(100, 5))
    const root = await node([present.cid, absent.cid], 'root')
    await repo.blocks.put(present.cid, present.bytes)
    await repo.blocks.put(root.cid, root.bytes)
    await assert.rejects(repo.pins.add(root.cid), (err: { code: string; message: string }) => {
      assert.equal(err.code, 'ERR_DAG_INCOMPLETE')
      assert.match(err.message, new RegExp(absent.cid.toString()))
      return true
    })
    assert.equal(await repo.pins.get(root.cid), undefined)
    // A direct pin only needs the root.
    const direct = await repo.pins.add(root.cid, { recursive: false })
    assert.equal(direct.recursive, false)
    await assert.rejects(repo.pins.add(absent.cid), { code: 'ERR_DAG_INCOMPLETE' })
    // GC keeps a direct pin's root but not its children.
    await repo.gc()
    assert.equal(await repo.blocks.has(root.cid), true)
    assert.equal(await repo.blocks.has(present.cid), false)
  })

  it('pins are keyed by multihash and re-pinning is idempotent', async () => {
    const repo = await freshRepo()
    const { cid } = await importBytes(pseudoRandom(1000, 6), repo.blocks)
    const first = await repo.pins.add(cid, { recursive: false })
    const v1 = CID.createV1(cid.code, cid.multihash)
    const again = await repo.pins.add(v1, { name: 'named' })
    assert.equal(again.recursive, true)
    assert.equal(again.name, 'named')
    assert.equal(again.created.getTime(), first.created.getTime())
    assert.equal((await repo.stat()).pins, 1)
    assert.ok(await repo.pins.get(v1))
  })

  it('GC running repeatedly during concurrent adds never deletes a pinned block', async () => {
    const repo = await freshRepo({ batchBlocks: 8 })
    const pinned: CID[] = []
    let adding = true
    const adds = (async () => {
      const running = []
      for (let i = 0; i < 12; i++) {
        running.push(
          repo.runAdd(async () => {
            const { cid } = await importBytes(pseudoRandom(1_500_000 + i * 1000, 100 + i), repo.blocks)
            await repo.pins.add(cid)
            pinned.push(cid)
          }),
        )
        if (i % 3 === 2) await Promise.all(running.splice(0))
      }
      await Promise.all(running)
      adding = false
    })()
    // Unpinned garbage that GC should collect meanwhile.
    const garbage = async (i: number): Promise<void> => {
      const g = await rawBlock(pseudoRandom(2000, 10_000 + i))
      await repo.blocks.put(g.cid, g.bytes)
    }
    let gcs = 0
    let removed = 0
    let i = 0
    while (adding) {
      await garbage(i++)
      removed += (await repo.gc()).removedBlocks
      gcs++
      for (const cid of pinned) assert.equal(await repo.blocks.has(cid), true)
    }
    await adds
    assert.ok(gcs >= 2, `gc ran ${gcs} times`)
    assert.ok(removed > 0)
    await repo.gc()
    const report = await repo.verify()
    assert.deepEqual(report.missing, [])
    assert.deepEqual(report.damagedPins, [])
    assert.equal(pinned.length, 12)
    for (const cid of pinned) assert.ok((await walkAll(repo.blocks, cid)).length > 5)
  })

  it('gc inside runAdd is refused instead of deadlocking', async () => {
    const repo = await freshRepo()
    await assert.rejects(
      repo.runAdd(() => repo.gc()),
      { code: 'ERR_LOCK_UPGRADE' },
    )
  })

  it('gcIfNeeded runs only above StorageMax × GCWatermark', async () => {
    const repo = await freshRepo()
    const g = await rawBlock(pseudoRandom(2000, 42))
    await repo.blocks.put(g.cid, g.bytes)
    await repo.blocks.flush()
    assert.equal(await repo.gcIfNeeded(), undefined) // 2 kB ≪ 9 GB
    assert.equal(await repo.blocks.has(g.cid), true)
  })
})
