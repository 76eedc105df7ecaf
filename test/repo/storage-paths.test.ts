import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { initRepo, openRepo, type Repo } from '../../src/repo/index.ts'
import { pseudoRandom, rawBlock, tempDir } from './helpers.ts'

const KB = 1024

async function putBlocks(repo: Repo, count: number, size: number, seed: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const b = await rawBlock(pseudoRandom(size, seed * 100_000 + i + 1))
    await repo.blocks.put(b.cid, b.bytes)
  }
  await repo.blocks.flush()
}

async function usedById(repo: Repo): Promise<Map<string, number>> {
  return new Map((await repo.storage.list()).map((p) => [p.id, p.used]))
}

describe('storage paths', () => {
  it('init creates one default path at <dir>/store with a Lotus sectorstore.json', async () => {
    const dir = await tempDir()
    await initRepo(dir)
    await assert.rejects(initRepo(dir), { code: 'ERR_REPO_EXISTS' })
    const json = JSON.parse(await readFile(join(dir, 'store', 'sectorstore.json'), 'utf8'))
    assert.equal(typeof json.ID, 'string')
    assert.equal(json.CanStore, true)
    assert.equal(json.MaxStorage, 0)
    assert.ok(json.Weight > 0)
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'))
    assert.deepEqual(config.StoragePaths, [{ Path: 'store' }])
    assert.equal(config.Gc.StorageMax, 10_000_000_000)
    assert.equal(config.Gc.GCWatermark, 90)
    const repo = await openRepo(dir)
    const [p] = await repo.storage.list()
    assert.equal(p?.id, json.ID)
    assert.equal(p?.dir, join(dir, 'store'))
    await repo.close()
  })

  it('places by available × weight, honours maxSize, skips a full path, and applies live changes', async () => {
    const dir = await tempDir()
    await initRepo(dir)
    const repo = await openRepo(dir)
    const [main] = await repo.storage.list()
    assert.ok(main)
    // main: capped at 16 KiB. second: 100 KiB at weight 3 → score 300 Ki vs 16 Ki: second wins.
    await repo.storage.set(main.id, { maxSize: 16 * KB, weight: 1 })
    const second = await repo.storage.add(join(dir, 'second'), { maxSize: 100 * KB, weight: 3 })
    await putBlocks(repo, 10, KB, 1)
    let used = await usedById(repo)
    assert.equal(used.get(second.id), 10 * KB)
    assert.equal(used.get(main.id), 0)

    // second read-only (weight 0): new blocks go to main until it is full (16 × 1 KiB).
    await repo.storage.set(second.id, { weight: 0 })
    await putBlocks(repo, 16, KB, 2)
    used = await usedById(repo)
    assert.equal(used.get(main.id), 16 * KB)
    assert.equal(used.get(second.id), 10 * KB)
    // Nothing writable has room → ERR_STORAGE_FULL; existing blocks stay readable.
    const extra = await rawBlock(pseudoRandom(KB, 999))
    await assert.rejects(repo.blocks.put(extra.cid, extra.bytes), { code: 'ERR_STORAGE_FULL' })
    assert.equal((await repo.stat()).blocks, 26)

    // Adding a path on the live repo makes room at once.
    const third = await repo.storage.add('third', { weight: 1 })
    assert.equal(third.dir, join(dir, 'third'))
    await repo.blocks.put(extra.cid, extra.bytes)
    await repo.blocks.flush()
    used = await usedById(repo)
    assert.equal(used.get(third.id), KB)
    await repo.close()

    // Settings and paths persist: config.json lists the new paths, sectorstore.json the weights.
    const reopened = await openRepo(dir)
    const list = await reopened.storage.list()
    assert.deepEqual(list.map((p) => [p.id, p.weight, p.maxSize, p.used]), [
      [main.id, 1, 16 * KB, 16 * KB],
      [second.id, 0, 100 * KB, 10 * KB],
      [third.id, 1, 0, KB],
    ])
    assert.equal(list[1]?.writable, false)
    assert.deepEqual(await reopened.blocks.get(extra.cid), extra.bytes)
    const stat = await reopened.stat()
    assert.equal(stat.blocks, 27)
    assert.equal(stat.bytes, 27 * KB)
    await reopened.close()
  })

  it('rejects unknown ids and attaching a path twice', async () => {
    const dir = await tempDir()
    await initRepo(dir)
    const repo = await openRepo(dir)
    await assert.rejects(repo.storage.set('nope', { weight: 1 }), { code: 'ERR_STORAGE_PATH_NOT_FOUND' })
    await assert.rejects(repo.storage.add('store'), { code: 'ERR_STORAGE_PATH_EXISTS' })
    await repo.close()
  })
})
