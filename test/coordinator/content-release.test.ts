import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import { pino } from 'pino'
import { createContentReleaser } from '../../src/coordinator/files/release-content.ts'
import type { Repo } from '../../src/repo/index.ts'
import { createTestAccount, seedFile, seedFolder, startTestCoordinator, type TestAccount, type TestCoordinator } from './seed-content.ts'

describe('content release service', () => {
  let coordinator: TestCoordinator
  let alice: TestAccount

  before(async () => {
    coordinator = await startTestCoordinator()
    alice = await createTestAccount(coordinator, 'alice@example.com')
  })
  after(() => coordinator?.close())

  /** The real repo with `gc` counted (pins and blocks pass through). */
  function countingRepo(): { repo: Repo; collections: () => number } {
    const { repo } = coordinator.running.components
    let count = 0
    const wrapped = {
      pins: repo.pins,
      blocks: repo.blocks,
      gc: () => {
        count++
        return repo.gc()
      },
    }
    return { repo: wrapped as unknown as Repo, collections: () => count }
  }

  it('debounces: many releases, one collection after the quiet period', async () => {
    const { registry } = coordinator.running.components
    const { repo, collections } = countingRepo()
    const releaser = createContentReleaser({ registry, repo, logger: pino({ level: 'silent' }), gcDelayMs: 150 })
    const cids: string[] = []
    for (let i = 0; i < 3; i++) {
      const entry = await seedFile(coordinator, alice.id, '/Library/debounce', `f${i}.bin`, randomBytes(50_000))
      const removed = await registry.entries.remove(alice.id, entry.id)
      assert.deepEqual(removed?.releasedCids, [entry.cid])
      await releaser.release(removed?.releasedCids ?? [])
      cids.push(entry.cid as string)
      await sleep(50)
    }
    assert.equal(collections(), 0, 'nothing yet: releases keep coming')
    await sleep(400)
    assert.equal(collections(), 1)
    for (const cid of cids) assert.equal(await coordinator.running.components.repo.blocks.has(CID.parse(cid)), false)
    await releaser.close()
  })

  it('content registered again before GC is pinned again and kept', async () => {
    const { registry } = coordinator.running.components
    const realRepo = coordinator.running.components.repo
    const releaser = createContentReleaser({ registry, repo: realRepo, logger: pino({ level: 'silent' }), gcDelayMs: 60_000 })
    const folder = await seedFolder(coordinator, alice.id, '/Library/again', 'box', { 'a.txt': 'same again', 'b/c.txt': randomBytes(30_000) })
    const cid = CID.parse(folder.cid as string)
    const removed = await registry.entries.remove(alice.id, folder.id)
    await releaser.release(removed?.releasedCids ?? [])
    assert.equal(await realRepo.pins.get(cid), undefined)
    // an upload of the same bytes registers the CID again (its blocks are still in the repo)
    await registry.entries.addFolder(alice.id, '/Library/again', { name: 'box2', cid: folder.cid as string, size: folder.size })
    await releaser.collectNow()
    assert.ok(await realRepo.pins.get(cid), 'pinned again')
    assert.ok(await realRepo.blocks.has(cid))
    await releaser.close()
  })

  it('close cancels a pending collection', async () => {
    const { registry } = coordinator.running.components
    const { repo, collections } = countingRepo()
    const releaser = createContentReleaser({ registry, repo, logger: pino({ level: 'silent' }), gcDelayMs: 50 })
    const entry = await seedFile(coordinator, alice.id, '/Library/closing', 'x.bin', randomBytes(1000))
    const removed = await registry.entries.remove(alice.id, entry.id)
    await releaser.release(removed?.releasedCids ?? [])
    await releaser.close()
    await sleep(150)
    assert.equal(collections(), 0)
  })

  it('a client that disconnects mid-tar does not disturb the server', async () => {
    const folder = await seedFolder(coordinator, alice.id, '/Library/abort', 'large', {
      'a.bin': randomBytes(3_000_000),
      'b.bin': randomBytes(3_000_000),
    })
    const aborter = new AbortController()
    const response = await fetch(`${coordinator.url}/api/v1/entries/${folder.id}/content`, {
      headers: { authorization: `Bearer ${alice.token}` },
      signal: aborter.signal,
    })
    assert.equal(response.status, 200)
    const reader = response.body?.getReader()
    await reader?.read()
    aborter.abort()
    await sleep(100)
    const again = await fetch(`${coordinator.url}/api/v1/entries/${folder.id}`, { headers: { authorization: `Bearer ${alice.token}` } })
    assert.equal(again.status, 200)
  })
})
