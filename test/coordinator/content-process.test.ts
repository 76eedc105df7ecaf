import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import tar from 'tar-stream'
import { openRepo } from '../../src/repo/index.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { postUpload, randomBytes, uploadForm } from './uploads-helpers.ts'

// biome-ignore lint/suspicious/noExplicitAny: test responses are checked field by field
type Json = any

describe('files API against a real `pinfold serve`', () => {
  let coordinator: CoordinatorProcess
  let token: string
  const call = async (method: string, path: string, headers: Record<string, string> = {}) =>
    fetch(`${coordinator.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...headers } })

  before(async () => {
    coordinator = await startCoordinatorProcess()
    token = await coordinator.token()
  })
  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  it('browses, downloads (range, tar) and deletes uploaded content; GC reclaims it', async () => {
    const photo = randomBytes(400_000, 7)
    const file = await postUpload(coordinator, token, uploadForm({ path: '/Library/real' }, [['photo.png', photo]]))
    assert.equal(file.status, 201, JSON.stringify(file.body))
    const folder = await postUpload(
      coordinator,
      token,
      uploadForm({ path: '/Library/real', mode: 'folder', name: 'site' }, [
        ['site/index.html', new TextEncoder().encode('<h1>hi</h1>')],
        ['site/css/a.css', new TextEncoder().encode('h1{}')],
      ]),
    )
    assert.equal(folder.status, 201, JSON.stringify(folder.body))

    const listing = (await (await call('GET', `/api/v1/entries/children?path=${encodeURIComponent('/Library/real')}`)).json()) as Json
    assert.deepEqual(
      listing.items.map((item: Json) => [item.name, item.kind]),
      [
        ['photo.png', 'file'],
        ['site', 'folder'],
      ],
    )
    const photoEntry = listing.items[0]
    const ranged = await call('GET', `/api/v1/entries/${photoEntry.id}/content`, { range: 'bytes=1000-1999' })
    assert.equal(ranged.status, 206)
    assert.equal(ranged.headers.get('content-type'), 'image/png')
    assert.deepEqual(new Uint8Array(await ranged.arrayBuffer()), photo.subarray(1000, 2000))

    const archive = Buffer.from(await (await call('GET', `/api/v1/content?path=${encodeURIComponent('/Library/real/site')}`)).arrayBuffer())
    const members = new Map<string, string>()
    const extract = tar.extract()
    const reading = (async () => {
      for await (const entry of extract) {
        const chunks: Buffer[] = []
        for await (const chunk of entry) chunks.push(chunk as Buffer)
        members.set(entry.header.name, Buffer.concat(chunks).toString())
      }
    })()
    Readable.from([archive]).pipe(extract as unknown as NodeJS.WritableStream)
    await reading
    assert.equal(members.get('site/index.html'), '<h1>hi</h1>')
    assert.equal(members.get('site/css/a.css'), 'h1{}')

    const removed = (await (await call('DELETE', `/api/v1/entries/${photoEntry.id}`)).json()) as Json
    assert.deepEqual(removed, { removedEntries: 1, releasedCids: [photoEntry.cid], stillReferenced: [] })
    assert.equal((await call('GET', `/api/v1/cids/${photoEntry.cid}/content`)).status, 404)
    // the release schedules GC 5 s after the last release; give it time, then look at the repo
    await sleep(6500)
    await coordinator.stop()
    const repo = await openRepo(join(coordinator.dataDir, 'repo'))
    try {
      assert.equal(await repo.blocks.has(CID.parse(photoEntry.cid)), false, 'GC reclaimed the deleted file')
      assert.equal(await repo.blocks.has(CID.parse(listing.items[1].cid)), true, 'the folder stays')
    } finally {
      await repo.close()
    }
  })
})
