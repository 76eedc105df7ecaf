import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import tar from 'tar-stream'
import { createTestAccount, seedFile, seedFolder, startTestCoordinator, type TestAccount, type TestCoordinator } from './seed-content.ts'

// biome-ignore lint/suspicious/noExplicitAny: test responses are checked field by field
type Json = any

/** Every member of a tar archive: path → bytes (directories as null). */
async function untar(bytes: Uint8Array): Promise<Map<string, Buffer | null>> {
  const members = new Map<string, Buffer | null>()
  const extract = tar.extract()
  const done = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = []
      for await (const chunk of entry) chunks.push(chunk as Buffer)
      members.set(entry.header.name, entry.header.type === 'directory' ? null : Buffer.concat(chunks))
    }
  })()
  Readable.from([Buffer.from(bytes)]).pipe(extract as unknown as NodeJS.WritableStream)
  await done
  return members
}

describe('files API: downloads (in-process coordinator)', () => {
  let coordinator: TestCoordinator
  let alice: TestAccount
  let bob: TestAccount
  const big = randomBytes(700_000) // several chunks, so ranges cross block boundaries

  const get = (token: string, path: string, headers: Record<string, string> = {}, method = 'GET') =>
    fetch(`${coordinator.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...headers } })
  const q = (path: string) => encodeURIComponent(path)

  before(async () => {
    coordinator = await startTestCoordinator()
    alice = await createTestAccount(coordinator, 'alice@example.com')
    bob = await createTestAccount(coordinator, 'bob@example.com')
  })
  after(() => coordinator?.close())

  it('streams a file by id, path and CID with type, length, ETag and disposition', async () => {
    const file = await seedFile(coordinator, alice.id, '/Library/media', 'big photo é.jpg', big)
    for (const path of [`/api/v1/entries/${file.id}/content`, `/api/v1/content?path=${q('/Library/media/big photo é.jpg')}`, `/api/v1/cids/${file.cid}/content`]) {
      const response = await get(alice.token, path)
      assert.equal(response.status, 200, path)
      assert.equal(response.headers.get('content-type'), 'image/jpeg')
      assert.equal(response.headers.get('content-length'), String(big.length))
      assert.equal(response.headers.get('etag'), `"${file.cid}"`)
      assert.equal(response.headers.get('accept-ranges'), 'bytes')
      assert.match(response.headers.get('content-disposition') ?? '', /^inline; .*filename\*=UTF-8''big%20photo%20%C3%A9\.jpg/)
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), big)
    }
    const v1 = CID.parse(file.cid as string).toV1().toString()
    const download = await get(alice.token, `/api/v1/cids/${v1}/content?download=1`)
    assert.equal(download.status, 200, 'the CIDv1 spelling of a v0 CID is the same content')
    assert.match(download.headers.get('content-disposition') ?? '', /^attachment; /)
    await download.arrayBuffer()
    const notModified = await get(alice.token, `/api/v1/entries/${file.id}/content`, { 'if-none-match': `"${file.cid}"` })
    assert.equal(notModified.status, 304)
    const head = await get(alice.token, `/api/v1/entries/${file.id}/content`, {}, 'HEAD')
    assert.equal(head.status, 200)
    assert.equal(head.headers.get('content-length'), String(big.length))
    assert.equal((await head.arrayBuffer()).byteLength, 0)
    const unknownType = await seedFile(coordinator, alice.id, '/Library/media', 'blob', 'raw')
    assert.equal((await get(alice.token, `/api/v1/entries/${unknownType.id}/content`)).headers.get('content-type'), 'application/octet-stream')
  })

  it('answers one Range with 206 and an unsatisfiable one with 416', async () => {
    const file = await seedFile(coordinator, alice.id, '/Library/ranges', 'data.bin', big)
    const cases: [string, number, number][] = [
      ['bytes=0-99', 0, 99],
      ['bytes=262100-262200', 262100, 262200],
      ['bytes=699990-', 699990, big.length - 1],
      ['bytes=-10', big.length - 10, big.length - 1],
      ['bytes=600000-9999999', 600000, big.length - 1],
    ]
    for (const [range, first, last] of cases) {
      const response = await get(alice.token, `/api/v1/entries/${file.id}/content`, { range })
      assert.equal(response.status, 206, range)
      assert.equal(response.headers.get('content-range'), `bytes ${first}-${last}/${big.length}`)
      assert.equal(response.headers.get('content-length'), String(last - first + 1))
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), big.subarray(first, last + 1), range)
    }
    for (const range of [`bytes=${big.length}-`, `bytes=${big.length + 5}-${big.length + 10}`, 'bytes=-0']) {
      const response = await get(alice.token, `/api/v1/entries/${file.id}/content`, { range })
      assert.equal(response.status, 416, range)
      assert.equal(response.headers.get('content-range'), `bytes */${big.length}`)
      assert.equal(((await response.json()) as Json).error.code, 'ERR_RANGE_NOT_SATISFIABLE')
    }
    const multi = await get(alice.token, `/api/v1/entries/${file.id}/content`, { range: 'bytes=0-1,5-6' })
    assert.equal(multi.status, 200, 'several ranges: the whole file')
    await multi.arrayBuffer()
  })

  it('streams a folder as tar with the same files and bytes; a directory tree too', async () => {
    const files = { 'readme.txt': 'hello', 'img/cat.bin': big, 'img/deeper/empty.txt': '', 'ünïcode name.md': '# hi' }
    const folder = await seedFolder(coordinator, alice.id, '/Library/tree', 'album', files)
    await seedFile(coordinator, alice.id, '/Library/tree/sub', 'loose.txt', 'loose file')
    const response = await get(alice.token, `/api/v1/entries/${folder.id}/content?download=true`)
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('content-type'), 'application/x-tar')
    assert.match(response.headers.get('content-disposition') ?? '', /^attachment; filename="album\.tar"/)
    const members = await untar(new Uint8Array(await response.arrayBuffer()))
    for (const [path, content] of Object.entries(files)) {
      assert.deepEqual(members.get(`album/${path}`), Buffer.from(content), path)
    }
    for (const name of members.keys()) assert.ok(name.startsWith('album/') && !name.includes('..'), `relative, safe member ${name}`)
    assert.ok(members.has('album/img/'))

    const tree = await untar(new Uint8Array(await (await get(alice.token, `/api/v1/content?path=${q('/Library/tree')}`)).arrayBuffer()))
    assert.deepEqual(tree.get('tree/sub/loose.txt'), Buffer.from('loose file'))
    assert.deepEqual(tree.get('tree/album/img/cat.bin'), big)
    assert.ok(tree.has('tree/sub/'))

    // a path may reach into a folder: a file inside it, or a directory inside it as tar
    const inner = await get(alice.token, `/api/v1/content?path=${q('/Library/tree/album/img/cat.bin')}`, { range: 'bytes=10-19' })
    assert.equal(inner.status, 206)
    assert.deepEqual(Buffer.from(await inner.arrayBuffer()), big.subarray(10, 20))
    const innerDir = await untar(new Uint8Array(await (await get(alice.token, `/api/v1/content?path=${q('/Library/tree/album/img')}`)).arrayBuffer()))
    assert.deepEqual([...innerDir.keys()].sort(), ['img/', 'img/cat.bin', 'img/deeper/', 'img/deeper/empty.txt'])
    assert.equal((await get(alice.token, `/api/v1/content?path=${q('/Library/tree/album/nope')}`)).status, 404)
  })

  it('records download usage and bytes out once the response is over', async () => {
    const { registry, metrics } = coordinator.running.components
    const file = await seedFile(coordinator, bob.id, '/Library', 'metered.bin', big.subarray(0, 10_000))
    const before = (await registry.usage.totals(bob.id, 0, Date.now() + 60_000)).download_bytes
    const out = async () => (await metrics.bytesOut.get()).values[0]?.value ?? 0
    const outBefore = await out()
    await (await get(bob.token, `/api/v1/entries/${file.id}/content`)).arrayBuffer()
    await (await get(bob.token, `/api/v1/entries/${file.id}/content`, { range: 'bytes=0-99' })).arrayBuffer()
    await (await get(bob.token, `/api/v1/entries/${file.id}/content`, {}, 'HEAD')).arrayBuffer()
    let total = 0
    for (let i = 0; i < 50 && total < before + 10_100; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      total = (await registry.usage.totals(bob.id, 0, Date.now() + 60_000)).download_bytes
    }
    assert.equal(total - before, 10_100)
    assert.equal((await out()) - outBefore, 10_100)
  })

  it('deleting releases content: unpinned, reclaimed by GC, while another account’s copy stays', async () => {
    const { repo } = coordinator.running.components
    const shared = randomBytes(300_000)
    const mine = await seedFile(coordinator, alice.id, '/Library/gc', 'shared.bin', shared)
    const theirs = await seedFile(coordinator, bob.id, '/Library', 'shared-copy.bin', shared)
    const solo = await seedFile(coordinator, alice.id, '/Library/gc', 'solo.bin', randomBytes(300_000))
    assert.equal(mine.cid, theirs.cid, 'identical content, one CID')
    const soloCid = CID.parse(solo.cid as string)

    const removedShared = (await (await fetch(`${coordinator.url}/api/v1/entries/${mine.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${alice.token}` } })).json()) as Json
    // the answer is the caller's own view: nothing says that bob still stores the same bytes
    assert.deepEqual(removedShared, { removedEntries: 1, releasedCids: [mine.cid], stillReferenced: [] })
    const removedSolo = (await (await fetch(`${coordinator.url}/api/v1/entries/${solo.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${alice.token}` } })).json()) as Json
    assert.deepEqual(removedSolo, { removedEntries: 1, releasedCids: [solo.cid], stillReferenced: [] })
    assert.equal(await repo.pins.get(soloCid), undefined, 'unpinned at once')
    assert.ok(await repo.blocks.has(soloCid), 'blocks stay until GC')
    await coordinator.running.components.releaseContent.collectNow()
    assert.equal(await repo.blocks.has(soloCid), false, 'GC reclaimed the released content')
    assert.ok(await repo.pins.get(CID.parse(mine.cid as string)), 'shared content stays pinned')

    const stillThere = await get(bob.token, `/api/v1/cids/${theirs.cid}/content`)
    assert.equal(stillThere.status, 200)
    assert.deepEqual(Buffer.from(await stillThere.arrayBuffer()), shared)
    assert.equal((await get(alice.token, `/api/v1/cids/${mine.cid}/content`)).status, 404, 'alice no longer holds it')
  })

  it('another account’s ids, paths and CIDs are not found for downloads', async () => {
    const file = await seedFile(coordinator, alice.id, '/Library/private', 'secret.txt', 'for alice only')
    const folder = await seedFolder(coordinator, alice.id, '/Library/private', 'box', { 'a.txt': 'boxed secret' })
    for (const path of [
      `/api/v1/entries/${file.id}/content`,
      `/api/v1/entries/${folder.id}/content`,
      `/api/v1/content?path=${q('/Library/private/secret.txt')}`,
      `/api/v1/content?path=${q('/Library/private/box/a.txt')}`,
      `/api/v1/content?path=${q('/Library/private')}`,
      `/api/v1/cids/${file.cid}/content`,
      `/api/v1/cids/${folder.cid}/content`,
    ]) {
      for (const method of ['GET', 'HEAD']) {
        const response = await get(bob.token, path, {}, method)
        assert.equal(response.status, 404, `${method} ${path}`)
        if (method === 'GET') assert.equal(((await response.json()) as Json).error.code, 'ERR_NOT_FOUND')
      }
    }
  })

  it('answers garbage with 4xx and keeps serving', async () => {
    const file = await seedFile(coordinator, alice.id, '/Library/ok', 'ok.txt', 'ok')
    for (const path of [
      '/api/v1/cids/not-a-cid/content',
      '/api/v1/cids/QmXXXX/content',
      `/api/v1/cids/${'b'.repeat(300)}/content`,
      '/api/v1/entries/..%2F..%2Fetc/content',
      '/api/v1/entries/%00/content',
      '/api/v1/content',
      `/api/v1/content?path=${q('/Library/ok/../ok/ok.txt')}`,
      `/api/v1/content?path=${q('C:\\Windows')}`,
      `/api/v1/entries/${file.id}/content?download=maybe`,
      `/api/v1/entries/${file.id}/content?extra=1`,
    ]) {
      const response = await get(alice.token, path)
      assert.ok(response.status >= 400 && response.status < 500, `${path} → ${response.status}`)
      const body = (await response.json()) as Json
      assert.equal(typeof body.error.code, 'string', path)
    }
    assert.equal(((await (await get(alice.token, '/api/v1/cids/not-a-cid/content')).json()) as Json).error.code, 'ERR_INVALID_CID')
    const ok = await get(alice.token, `/api/v1/entries/${file.id}/content`)
    assert.equal(await ok.text(), 'ok')
  })
})
