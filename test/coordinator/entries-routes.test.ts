import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import { createTestAccount, seedFile, seedFolder, startTestCoordinator, type TestAccount, type TestCoordinator } from './seed-content.ts'

// biome-ignore lint/suspicious/noExplicitAny: test responses are checked field by field
type Json = any

describe('files API: entries (in-process coordinator)', () => {
  let coordinator: TestCoordinator
  let alice: TestAccount
  let bob: TestAccount

  async function call(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
    const response = await fetch(`${coordinator.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    })
    const text = await response.text()
    return { status: response.status, body: text ? JSON.parse(text) : undefined }
  }
  const q = (path: string) => encodeURIComponent(path)

  before(async () => {
    coordinator = await startTestCoordinator()
    alice = await createTestAccount(coordinator, 'alice@example.com')
    bob = await createTestAccount(coordinator, 'bob@example.com')
  })
  after(() => coordinator?.close())

  it('lists 250 entries page by page with a cursor, in every sort order', async () => {
    const { registry } = coordinator.running.components
    await registry.entries.mkdir(alice.id, '/Library/many')
    const cid = (await seedFile(coordinator, alice.id, '/Library', 'seed.txt', 'x')).cid as string
    for (let i = 0; i < 250; i++) {
      const name = `f${String(i).padStart(3, '0')}.bin`
      // sizes run against names and mtimes, so each sort order gives a different sequence
      await registry.entries.addFile(alice.id, '/Library/many', { name, cid, size: 1000 - i, mtime: 1_700_000_000_000 + ((i * 7) % 250) * 1000 })
    }
    const dir = await call(alice.token, 'GET', `/api/v1/entries?path=${q('/Library/many')}`)
    assert.equal(dir.status, 200)
    assert.equal(dir.body.kind, 'directory')
    assert.equal(dir.body.path, '/Library/many')

    const collect = async (sort: string, order: string) => {
      const names: string[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const page: { status: number; body: Json } = await call(
          alice.token,
          'GET',
          `/api/v1/entries/${dir.body.id}/children?limit=100&sort=${sort}&order=${order}${cursor ? `&cursor=${cursor}` : ''}`,
        )
        assert.equal(page.status, 200, JSON.stringify(page.body))
        assert.ok(page.body.items.length <= 100)
        names.push(...page.body.items.map((item: Json) => item.name))
        cursor = page.body.nextCursor
        pages++
      } while (cursor !== null)
      assert.equal(pages, 3)
      return names
    }
    const byName = await collect('name', 'asc')
    assert.equal(byName.length, 250)
    assert.equal(new Set(byName).size, 250, 'no entry twice')
    assert.deepEqual(byName, [...byName].sort())
    assert.deepEqual(await collect('name', 'desc'), [...byName].reverse())
    assert.deepEqual(await collect('size', 'asc'), [...byName].reverse(), 'sizes fall as names rise')
    const byMtime = await collect('mtime', 'asc')
    const expected = [...byName].sort((a, b) => ((Number(a.slice(1, 4)) * 7) % 250) - ((Number(b.slice(1, 4)) * 7) % 250))
    assert.deepEqual(byMtime, expected)
    assert.equal((await collect('created', 'desc')).length, 250)

    const byPath = await call(alice.token, 'GET', `/api/v1/entries/children?path=${q('/Library/many')}&limit=5`)
    assert.equal(byPath.status, 200)
    assert.deepEqual(
      byPath.body.items.map((item: Json) => item.path),
      byName.slice(0, 5).map((name) => `/Library/many/${name}`),
    )
  })

  it('stat by path gives the newest version by mtime; versions lists them all', async () => {
    const older = await seedFile(coordinator, alice.id, '/Library/docs', 'report.txt', 'second upload, older mtime', { mtime: 1_000_000 })
    const newer = await seedFile(coordinator, alice.id, '/Library/docs', 'report.txt', 'first upload, newer mtime', { mtime: 2_000_000 })
    const late = await seedFile(coordinator, alice.id, '/Library/docs', 'report.txt', 'third upload, oldest mtime', { mtime: 500_000 })
    const stat = await call(alice.token, 'GET', `/api/v1/entries?path=${q('/Library/docs/report.txt')}`)
    assert.equal(stat.status, 200)
    assert.equal(stat.body.id, newer.id)
    assert.equal(stat.body.cid, newer.cid)
    assert.equal(stat.body.mtime, new Date(2_000_000).toISOString())
    const byId = await call(alice.token, 'GET', `/api/v1/entries/${older.id}`)
    assert.equal(byId.body.path, '/Library/docs/report.txt')
    const versions = await call(alice.token, 'GET', `/api/v1/entries/${late.id}/versions`)
    assert.deepEqual(
      versions.body.versions.map((v: Json) => v.id),
      [newer.id, older.id, late.id],
    )
  })

  it('searches by name, path prefix and CID (either CID version)', async () => {
    const file = await seedFile(coordinator, alice.id, '/Library/search/deep', 'Holiday-Photo.JPG', 'jpeg bytes')
    await seedFile(coordinator, alice.id, '/Library/elsewhere', 'holiday-notes.txt', 'notes')
    const byName = await call(alice.token, 'GET', '/api/v1/search?name=holiday')
    assert.deepEqual(byName.body.items.map((i: Json) => i.path).sort(), ['/Library/elsewhere/holiday-notes.txt', '/Library/search/deep/Holiday-Photo.JPG'])
    const byPrefix = await call(alice.token, 'GET', `/api/v1/search?name=holiday&pathPrefix=${q('/Library/search')}`)
    assert.deepEqual(byPrefix.body.items.map((i: Json) => i.id), [file.id])
    const v1 = CID.parse(file.cid as string).toV1().toString()
    for (const cid of [file.cid as string, v1]) {
      const byCid = await call(alice.token, 'GET', `/api/v1/search?cid=${cid}`)
      assert.equal(byCid.status, 200)
      assert.deepEqual(byCid.body.items.map((i: Json) => i.id), [file.id], cid)
    }
    // paging through search results
    const first = await call(alice.token, 'GET', '/api/v1/search?name=f0&limit=40')
    assert.equal(first.body.items.length, 40)
    assert.ok(first.body.nextCursor)
    const second = await call(alice.token, 'GET', `/api/v1/search?name=f0&limit=80&cursor=${first.body.nextCursor}`)
    assert.equal(second.body.items.length, 60)
    assert.equal(second.body.nextCursor, null)
    assert.equal(new Set([...first.body.items, ...second.body.items].map((i: Json) => i.id)).size, 100)
    assert.equal((await call(alice.token, 'GET', '/api/v1/search')).status, 400)
    assert.equal((await call(bob.token, 'GET', `/api/v1/search?cid=${file.cid}`)).body.items.length, 0)
  })

  it('creates, renames and moves; conflicts are 409', async () => {
    const made = await call(alice.token, 'POST', '/api/v1/directories', { path: '/Library/projects/2024', parents: true })
    assert.equal(made.status, 201, JSON.stringify(made.body))
    assert.equal(made.body.path, '/Library/projects/2024')
    assert.equal((await call(alice.token, 'POST', '/api/v1/directories', { path: '/Library/projects/2024' })).body.error.code, 'ERR_CONFLICT')
    assert.equal((await call(alice.token, 'POST', '/api/v1/directories', { path: '/Library/missing/child' })).status, 404)
    const file = await seedFile(coordinator, alice.id, '/Library/projects', 'plan.md', '# plan')
    const renamed = await call(alice.token, 'PATCH', `/api/v1/entries/${file.id}`, { name: 'plan-v2.md' })
    assert.equal(renamed.status, 200)
    assert.equal(renamed.body.path, '/Library/projects/plan-v2.md')
    const moved = await call(alice.token, 'PATCH', `/api/v1/entries/${file.id}`, { parentPath: '/Library/projects/2024' })
    assert.equal(moved.body.path, '/Library/projects/2024/plan-v2.md')
    const both = await call(alice.token, 'PATCH', `/api/v1/entries/${file.id}`, { parentId: made.body.parentId, name: 'final.md' })
    assert.equal(both.body.path, '/Library/projects/final.md')
    await seedFile(coordinator, alice.id, '/Library/projects', 'taken.md', 'x')
    const clash = await call(alice.token, 'PATCH', `/api/v1/entries/${file.id}`, { name: 'taken.md' })
    assert.equal(clash.status, 409)
    assert.equal(clash.body.error.code, 'ERR_CONFLICT')
    const intoItself = await call(alice.token, 'PATCH', `/api/v1/entries/${made.body.parentId}`, { parentId: made.body.id })
    assert.equal(intoItself.status, 409)
    assert.equal((await call(alice.token, 'PATCH', `/api/v1/entries/${file.id}`, { parentId: made.body.id, parentPath: '/Library' })).status, 400)
    assert.equal((await call(alice.token, 'PATCH', `/api/v1/entries/${file.id}`, {})).status, 400)
  })

  it('deletes a non-empty directory only with recursive=true and confirm=<name>', async () => {
    const dir = await call(alice.token, 'POST', '/api/v1/directories', { path: '/Library/trash/inner', parents: true })
    const top = await call(alice.token, 'GET', `/api/v1/entries?path=${q('/Library/trash')}`)
    const kept = await seedFile(coordinator, alice.id, '/Library/keep', 'same.txt', 'shared bytes')
    await seedFile(coordinator, alice.id, '/Library/trash/inner', 'same.txt', 'shared bytes')
    await seedFile(coordinator, alice.id, '/Library/trash', 'only-here.txt', 'unique bytes for trash')
    await seedFolder(coordinator, alice.id, '/Library/trash', 'album', { 'a.txt': 'album a', 'b/c.txt': 'album c' })
    for (const query of ['', '?recursive=true', '?recursive=true&confirm=wrong', '?confirm=trash']) {
      const refused = await call(alice.token, 'DELETE', `/api/v1/entries/${top.body.id}${query}`)
      assert.equal(refused.status, 400, query)
      assert.equal(refused.body.error.code, 'ERR_CONFIRMATION_REQUIRED')
    }
    const removed = await call(alice.token, 'DELETE', `/api/v1/entries/${top.body.id}?recursive=true&confirm=trash`)
    assert.equal(removed.status, 200, JSON.stringify(removed.body))
    assert.equal(removed.body.removedEntries, 5, 'trash, inner, same.txt, only-here.txt, album')
    assert.equal(removed.body.releasedCids.length, 2, 'only-here.txt and the album')
    assert.deepEqual(removed.body.stillReferenced, [kept.cid])
    assert.equal((await call(alice.token, 'GET', `/api/v1/entries/${dir.body.id}`)).status, 404)
    const empty = await call(alice.token, 'POST', '/api/v1/directories', { path: '/Library/empty' })
    assert.equal((await call(alice.token, 'DELETE', `/api/v1/entries/${empty.body.id}`)).status, 200, 'an empty directory needs no confirmation')
    const root = await call(alice.token, 'GET', `/api/v1/entries?path=${q('/Library')}`)
    assert.equal((await call(alice.token, 'DELETE', `/api/v1/entries/${root.body.id}?recursive=true&confirm=Library`)).status, 400)
  })

  it('another account’s ids and paths are not found, for every route', async () => {
    const file = await seedFile(coordinator, alice.id, '/Library/private', 'secret.txt', 'alice only')
    const dir = await call(alice.token, 'GET', `/api/v1/entries?path=${q('/Library/private')}`)
    const attempts: [string, string, unknown?][] = [
      ['GET', `/api/v1/entries/${file.id}`],
      ['GET', `/api/v1/entries/${file.id}/versions`],
      ['GET', `/api/v1/entries/${dir.body.id}/children`],
      ['GET', `/api/v1/entries?path=${q('/Library/private/secret.txt')}`],
      ['GET', `/api/v1/entries/children?path=${q('/Library/private')}`],
      ['PATCH', `/api/v1/entries/${file.id}`, { name: 'stolen.txt' }],
      ['DELETE', `/api/v1/entries/${file.id}`],
      ['DELETE', `/api/v1/entries/${dir.body.id}?recursive=true&confirm=private`],
    ]
    for (const [method, path, body] of attempts) {
      const response = await call(bob.token, method, path, body)
      assert.equal(response.status, 404, `${method} ${path}: ${JSON.stringify(response.body)}`)
      assert.equal(response.body.error.code, 'ERR_NOT_FOUND')
    }
    const bobsDir = await call(bob.token, 'POST', '/api/v1/directories', { path: '/Library/inbox' })
    assert.equal((await call(alice.token, 'PATCH', `/api/v1/entries/${file.id}`, { parentId: bobsDir.body.id })).status, 404, 'no moving into another account')
    assert.equal((await call(bob.token, 'GET', `/api/v1/entries/${file.id}?accountId=${alice.id}`)).status, 403, 'accountId is for admins')
    assert.equal((await call(alice.token, 'GET', `/api/v1/entries/${file.id}`)).status, 200, 'still there for alice')
  })

  it('answers garbage with 4xx and the error shape, and keeps serving', async () => {
    const garbage: [string, string, unknown?][] = [
      ['GET', '/api/v1/entries/not%20an%20id'],
      ['GET', `/api/v1/entries/${'x'.repeat(100)}`],
      ['GET', '/api/v1/entries'],
      ['GET', `/api/v1/entries?path=${q('/Library/../etc/passwd')}`],
      ['GET', `/api/v1/entries?path=${q('relative/path')}`],
      ['GET', `/api/v1/entries?path=${q('/Library/a//b')}`],
      ['GET', '/api/v1/entries/children?path=%2FLibrary&limit=0'],
      ['GET', '/api/v1/entries/children?path=%2FLibrary&limit=abc'],
      ['GET', '/api/v1/entries/children?path=%2FLibrary&sort=random'],
      ['GET', '/api/v1/entries/children?path=%2FLibrary&cursor=%%%'],
      ['GET', '/api/v1/entries/children?path=%2FLibrary&cursor=bm90IGpzb24'],
      ['GET', '/api/v1/search?cid=not-a-cid'],
      ['GET', `/api/v1/search?name=x&pathPrefix=${q('/Library/..')}`],
      ['GET', '/api/v1/search?name=x&cursor=garbage'],
      ['GET', '/api/v1/search?name=x&unknown=1'],
      ['POST', '/api/v1/directories', { path: 42 }],
      ['POST', '/api/v1/directories', { path: '/Library/a', parents: 'yes please' }],
      ['POST', '/api/v1/directories', { path: '/Library/../x' }],
      ['POST', '/api/v1/directories', { path: '/Library/x', extra: true }],
      ['POST', '/api/v1/directories', '{"path": "/Library/x"'],
      ['POST', '/api/v1/directories', '[]'],
      ['PATCH', '/api/v1/entries/abc', { name: 'a/b' }],
      ['PATCH', '/api/v1/entries/abc', { name: ['x'] }],
      ['DELETE', '/api/v1/entries/abc?recursive=maybe'],
    ]
    const file = await seedFile(coordinator, alice.id, '/Library/g', 'g.txt', 'g')
    garbage.push(['PATCH', `/api/v1/entries/${file.id}`, { name: '..' }], ['PATCH', `/api/v1/entries/${file.id}`, { parentPath: '/Library/../..' }])
    for (const [method, path, body] of garbage) {
      const response = await call(alice.token, method, path, body)
      assert.ok(response.status >= 400 && response.status < 500, `${method} ${path} ${JSON.stringify(body)} → ${response.status}`)
      assert.equal(typeof response.body?.error?.code, 'string', `${method} ${path}: ${JSON.stringify(response.body)}`)
      assert.equal(typeof response.body.error.message, 'string')
    }
    assert.equal((await call(alice.token, 'GET', `/api/v1/entries?path=${q('/Library/../x')}`)).body.error.code, 'ERR_INVALID_PATH')
    assert.equal((await call(alice.token, 'GET', '/api/v1/search?cid=zzz')).body.error.code, 'ERR_INVALID_CID')
    const unauthenticated = await fetch(`${coordinator.url}/api/v1/entries/${file.id}`)
    assert.equal(unauthenticated.status, 401)
    assert.equal((await call(alice.token, 'GET', `/api/v1/entries/${file.id}`)).status, 200, 'still serving')
  })

  it('documents every files route in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${coordinator.url}/api/v1/openapi.json`)).json()) as Json
    for (const path of ['/api/v1/entries', '/api/v1/entries/{id}', '/api/v1/entries/{id}/children', '/api/v1/entries/children', '/api/v1/entries/{id}/versions', '/api/v1/search', '/api/v1/directories', '/api/v1/entries/{id}/content', '/api/v1/content', '/api/v1/cids/{cid}/content']) {
      assert.ok(doc.paths[path], `${path} in the OpenAPI document`)
    }
    assert.ok(doc.paths['/api/v1/entries/{id}'].patch && doc.paths['/api/v1/entries/{id}'].delete)
  })
})
