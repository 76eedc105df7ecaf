import assert from 'node:assert/strict'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import { importBytes } from '../../src/core/index.ts'
import { initRepo, openRepo } from '../../src/repo/index.ts'
import { blockstoreConformance } from '../core/blockstore-conformance.ts'
import { pseudoRandom, rawBlock, tempDir, walkAll } from './helpers.ts'

blockstoreConformance('repo disk store (default batches)', async () => {
  const dir = await tempDir()
  await initRepo(dir)
  const repo = await openRepo(dir)
  return { store: repo.blocks, close: () => repo.close() }
})

blockstoreConformance('repo disk store (batch of 1 block)', async () => {
  const dir = await tempDir()
  await initRepo(dir)
  const repo = await openRepo(dir, { batchBlocks: 1 })
  return { store: repo.blocks, close: () => repo.close() }
})

describe('disk store', () => {
  it('keeps flushed blocks across close/open, in one pack file per batch under blocks/packs/', async () => {
    const dir = await tempDir()
    await initRepo(dir)
    let repo = await openRepo(dir, { batchBlocks: 4 })
    const blocks = await Promise.all(Array.from({ length: 10 }, (_, i) => rawBlock(pseudoRandom(1000 + i, i + 1))))
    for (const b of blocks) await repo.blocks.put(b.cid, b.bytes)
    // queued blocks are readable before they commit
    for (const b of blocks) assert.deepEqual(await repo.blocks.get(b.cid), b.bytes)
    await repo.close()
    repo = await openRepo(dir)
    for (const b of blocks) assert.deepEqual(await repo.blocks.get(b.cid), b.bytes)
    assert.equal((await repo.stat()).blocks, 10)
    const packs = await readdir(join(dir, 'store', 'blocks', 'packs'))
    assert.equal(packs.length, 3, '4 + 4 + 2 blocks')
    assert.ok(packs.every((p) => p.endsWith('.pack')))
    assert.deepEqual(await readdir(join(dir, 'store', 'tmp')), [])
    await repo.close()
  })

  it('removes a pack file with its last block, and unreferenced packs at open', async () => {
    const dir = await tempDir()
    await initRepo(dir)
    let repo = await openRepo(dir, { batchBlocks: 2 })
    const [a, b] = await Promise.all([rawBlock(pseudoRandom(100, 11)), rawBlock(pseudoRandom(100, 12))])
    assert.ok(a && b)
    await repo.blocks.put(a.cid, a.bytes)
    await repo.blocks.put(b.cid, b.bytes)
    await repo.blocks.flush()
    const packDir = join(dir, 'store', 'blocks', 'packs')
    assert.equal((await readdir(packDir)).length, 1)
    await repo.blocks.delete(a.cid)
    assert.equal((await readdir(packDir)).length, 1, 'still holds b')
    assert.deepEqual(await repo.blocks.get(b.cid), b.bytes)
    await repo.blocks.delete(b.cid)
    assert.deepEqual(await readdir(packDir), [])
    await repo.close()
    // a pack renamed into place whose rows never committed (crash) is removed at open
    await writeFile(join(packDir, 'orphan.pack'), 'x')
    repo = await openRepo(dir)
    assert.deepEqual(await readdir(packDir), [])
    await repo.close()
  })

  it('keys blocks by multihash: CIDv0 and CIDv1 dag-pb of the same bytes are one block', async () => {
    const dir = await tempDir()
    await initRepo(dir)
    const repo = await openRepo(dir)
    const { cid } = await importBytes(pseudoRandom(600_000, 7), repo.blocks)
    assert.equal(cid.version, 0)
    const v1 = CID.createV1(cid.code, cid.multihash)
    assert.equal(await repo.blocks.has(v1), true)
    assert.deepEqual(await repo.blocks.get(v1), await repo.blocks.get(cid))
    const before = (await repo.stat()).blocks
    await repo.blocks.put(v1, await repo.blocks.get(cid))
    await repo.blocks.flush()
    assert.equal((await repo.stat()).blocks, before)
    assert.equal(await repo.blocks.size(v1), (await repo.blocks.get(cid)).byteLength)
    await repo.close()
  })

  it('imports a multi-block file and reads every block back after reopen', async () => {
    const dir = await tempDir()
    await initRepo(dir)
    let repo = await openRepo(dir)
    const { cid } = await importBytes(pseudoRandom(3_000_000, 3), repo.blocks)
    await repo.close()
    repo = await openRepo(dir)
    const all = await walkAll(repo.blocks, cid)
    assert.ok(all.length > 10)
    await repo.close()
  })

  it('delete removes an unpinned block and refuses a pinned one', async () => {
    const dir = await tempDir()
    await initRepo(dir)
    const repo = await openRepo(dir)
    const a = await rawBlock(pseudoRandom(100, 1))
    const b = await rawBlock(pseudoRandom(100, 2))
    await repo.blocks.put(a.cid, a.bytes)
    await repo.blocks.put(b.cid, b.bytes)
    await repo.pins.add(b.cid)
    await repo.blocks.delete(a.cid)
    assert.equal(await repo.blocks.has(a.cid), false)
    await assert.rejects(repo.blocks.get(a.cid), { code: 'ERR_BLOCK_NOT_FOUND' })
    await assert.rejects(repo.blocks.delete(b.cid), { code: 'ERR_BLOCK_PINNED' })
    assert.equal(await repo.blocks.has(b.cid), true)
    await repo.close()
  })
})
