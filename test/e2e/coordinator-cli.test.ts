import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { createTestDatabase, POSTGRES_MISSING } from '../helpers/postgres-database.ts'
import { runPinfold } from '../helpers/run-pinfold.ts'

/**
 * The coordinator as a user meets it: a real `pinfold serve` process, driven by the
 * `pinfold` CLI client and plain HTTP, on SQLite and on PostgreSQL.
 */
for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`coordinator end to end (${backend})`, () => {
    let coordinator: CoordinatorProcess
    let work: string
    let configDir: string
    let dropDatabase: (() => Promise<void>) | undefined
    const cli = (args: string[]) => runPinfold(args, { env: { PINFOLD_CONFIG_DIR: configDir } })

    before(async () => {
      let db: string | undefined
      if (backend === 'postgres') {
        const database = await createTestDatabase()
        if (!database) {
          if (process.env.CI) throw new Error(`${POSTGRES_MISSING} (required when CI is set)`)
          return // each test then skips itself
        }
        db = database.url
        dropDatabase = database.drop
      }
      work = await mkdtemp(join(tmpdir(), 'pinfold-e2e-'))
      configDir = join(work, 'config')
      coordinator = await startCoordinatorProcess({ db })
    })
    after(async () => {
      await coordinator?.stop()
      await coordinator?.cleanup()
      await dropDatabase?.()
      if (work) await rm(work, { recursive: true, force: true })
    })

    it('exchanges keys for tokens, refuses wrong and revoked keys', async (context) => {
      if (!coordinator) return context.skip(POSTGRES_MISSING)
      const wrong = await fetch(`${coordinator.url}/api/v1/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ apiKey: 'pfk_not-a-key' }),
      })
      assert.equal(wrong.status, 401)
      assert.equal(((await wrong.json()) as { error: { code: string } }).error.code, 'ERR_INVALID_CREDENTIALS')
      const noToken = await fetch(`${coordinator.url}/api/v1/keys`)
      assert.equal(noToken.status, 401)
      const forged = await fetch(`${coordinator.url}/api/v1/keys`, { headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.e30.' } })
      assert.equal(forged.status, 401)

      const login = await cli(['login', '--url', coordinator.url, '--api-key', coordinator.admin.apiKey])
      assert.equal(login.code, 0, login.stderr)
      const created = await cli(['keys', 'create', '--description', 'ci', '--scopes', 'read', '--json'])
      assert.equal(created.code, 0, created.stderr)
      const { key, secret } = JSON.parse(created.stdout) as { key: { id: string }; secret: string }
      const readToken = await coordinator.token(secret)
      const readOnlyWrite = await fetch(`${coordinator.url}/api/v1/directories`, {
        method: 'POST',
        headers: { authorization: `Bearer ${readToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ path: '/Library/nope' }),
      })
      assert.equal(readOnlyWrite.status, 403, 'a read-scoped key cannot write')
      const listed = await cli(['keys', 'ls', '--json'])
      assert.ok((JSON.parse(listed.stdout) as { id: string }[]).some((k) => k.id === key.id))
      assert.equal((await cli(['keys', 'revoke', key.id])).code, 0)
      await assert.rejects(coordinator.token(secret), /401/, 'a revoked key mints no new token')
    })

    it('uploads, lists, downloads, moves and deletes with the CLI client', async (context) => {
      if (!coordinator) return context.skip(POSTGRES_MISSING)
      await cli(['login', '--url', coordinator.url, '--api-key', coordinator.admin.apiKey])
      const tree = join(work, 'album')
      await mkdir(join(tree, 'raw'), { recursive: true })
      const big = randomBytes(2 * 1024 * 1024 + 5)
      await writeFile(join(tree, 'cover.jpg'), big)
      await writeFile(join(tree, 'raw', 'notes.txt'), 'shot on film')

      const upload = await cli(['files', 'upload', tree, '--to', '/Library/photos', '--json'])
      assert.equal(upload.code, 0, upload.stderr)
      assert.equal((JSON.parse(upload.stdout) as { status: string }).status, 'done')

      const local = await runPinfold(['add', '-Q', join(tree, 'cover.jpg')], { repo: join(work, 'local-repo') })
      assert.notEqual(local.code, 0, 'the local repo is not initialised yet')
      await runPinfold(['init'], { repo: join(work, 'local-repo') })
      const expected = (await runPinfold(['add', '-Q', join(tree, 'cover.jpg')], { repo: join(work, 'local-repo') })).stdout.trim()

      const ls = await cli(['files', 'ls', '/Library/photos/album', '--json'])
      const entries = JSON.parse(ls.stdout) as { name: string; cid: string; kind: string }[]
      assert.deepEqual(entries.map((e) => e.name).sort(), ['cover.jpg', 'raw'])
      assert.equal(entries.find((e) => e.name === 'cover.jpg')?.cid, expected, 'same CID as pinfold add')

      const out = join(work, 'cover-download.jpg')
      const get = await cli(['files', 'get', '/Library/photos/album/cover.jpg', '-o', out])
      assert.equal(get.code, 0, get.stderr)
      assert.deepEqual(await readFile(out), big)

      const tarOut = join(work, 'album-download')
      assert.equal((await cli(['files', 'get', '/Library/photos/album', '-o', tarOut])).code, 0)
      assert.equal(await readFile(join(tarOut, 'raw', 'notes.txt'), 'utf8'), 'shot on film')

      assert.equal((await cli(['files', 'mkdir', '/Library/archive/2026'])).code, 0)
      const mv = await cli(['files', 'mv', '/Library/photos/album/raw/notes.txt', '/Library/archive/2026/notes.txt'])
      assert.equal(mv.code, 0, mv.stderr)
      const moved = await cli(['files', 'ls', '/Library/archive/2026/notes.txt', '--json'])
      assert.equal((JSON.parse(moved.stdout) as { path: string }[])[0]?.path, '/Library/archive/2026/notes.txt')

      const refused = await cli(['files', 'rm', '/Library/photos'])
      assert.equal(refused.code, 1, 'a non-empty directory needs --recursive')
      const rmAll = await cli(['files', 'rm', '/Library/photos', '--recursive', '--json'])
      assert.equal(rmAll.code, 0, rmAll.stderr)
      assert.ok((JSON.parse(rmAll.stdout) as { removedEntries: number }).removedEntries >= 3)
      const gone = await cli(['files', 'ls', '/Library/photos'])
      assert.equal(gone.code, 1)
      assert.match(gone.stderr, /^Error: /)

      const usage = await cli(['usage', '--json'])
      assert.equal(usage.code, 0, usage.stderr)
      const statements = await cli(['statements', '--json'])
      assert.equal(statements.code, 0, statements.stderr)
      assert.ok((JSON.parse(statements.stdout) as unknown[]).length >= 1)
    })

    it('keeps serving after garbage and reports it as 4xx with a stable code', async (context) => {
      if (!coordinator) return context.skip(POSTGRES_MISSING)
      const token = await coordinator.token()
      const auth = { authorization: `Bearer ${token}` }
      const cases: [string, RequestInit][] = [
        ['/api/v1/entries?path=/Library/../etc', { headers: auth }],
        ['/api/v1/entries/%00', { headers: auth }],
        ['/api/v1/cids/not-a-cid/content', { headers: auth }],
        ['/api/v1/directories', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"path":' }],
        ['/api/v1/directories', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"path":42}' }],
        ['/api/v1/keys', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"scopes":["root"]}' }],
        ['/api/v1/auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[]' }],
        ['/api/v1/uploads', { method: 'POST', headers: { ...auth, 'content-type': 'multipart/form-data; boundary=x' }, body: '--x\r\ngarbage' }],
        ['/ipfs/bafy!!', { headers: auth }],
        ['/api/v1/entries', { headers: { ...auth, 'x-huge': 'a'.repeat(20_000) } }],
      ]
      for (const [path, init] of cases) {
        const response = await fetch(`${coordinator.url}${path}`, init)
        assert.ok(response.status >= 400 && response.status < 500, `${path} → ${response.status}`)
        if (response.status !== 431) {
          const body = (await response.json()) as { error?: { code?: string } }
          assert.match(body.error?.code ?? '', /^ERR_[A-Z_]+$/, `${path} has a stable code`)
        }
      }
      const health = await fetch(`${coordinator.url}/readyz`)
      assert.equal(health.status, 200)
    })
  })
}
