import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { Registry } from '../../src/registry/index.ts'

export interface RegistryFactory {
  /** Opens (and migrates) a registry on the suite's database; may be called many times. */
  open(): Promise<Registry>
}

async function randomCid(): Promise<string> {
  return CID.create(1, raw.code, await sha256.digest(randomBytes(32))).toString()
}

function email(): string {
  return `user-${randomUUID()}@Example.com`
}

async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.equal((err as { code?: string }).code, code, String(err))
    return true
  })
}

/**
 * The registry contract: every implementation (SQLite, PostgreSQL) must pass these.
 * Tests share one database and isolate themselves with fresh accounts and random CIDs.
 */
export function registryConformance(name: string, factory: RegistryFactory): void {
  describe(`registry conformance: ${name}`, () => {
    let reg: Registry

    before(async () => {
      reg = await factory.open()
    })
    after(async () => {
      await reg?.close()
    })

    it('migrations are idempotent and concurrent opens are safe', async () => {
      const [a, b] = await Promise.all([factory.open(), factory.open()])
      const c = await factory.open()
      try {
        const acct = await a.accounts.create({ email: email() })
        assert.equal((await c.accounts.get(acct.id))?.id, acct.id)
        assert.equal((await b.accounts.get(acct.id))?.id, acct.id)
      } finally {
        await Promise.all([a.close(), b.close(), c.close()])
      }
    })

    it('creates accounts with case-insensitive unique email and a hashed password', async () => {
      const e = email()
      const acct = await reg.accounts.create({ email: e, password: 'correct horse battery' })
      assert.equal(acct.role, 'user')
      assert.equal((await reg.accounts.getByEmail(e.toUpperCase()))?.id, acct.id)
      await rejectsCode(reg.accounts.create({ email: e.toLowerCase(), password: 'another password' }), 'ERR_CONFLICT')
      assert.equal(await reg.accounts.verifyPassword(acct.id, 'correct horse battery'), true)
      assert.equal(await reg.accounts.verifyPassword(acct.id, 'wrong password'), false)
      assert.equal((await reg.accounts.authenticatePassword(e, 'correct horse battery'))?.id, acct.id)
      assert.equal(await reg.accounts.authenticatePassword(e, 'wrong password'), undefined)
      assert.equal(await reg.accounts.authenticatePassword(`nobody-${e}`, 'correct horse battery'), undefined)
      const row = await reg.db.selectFrom('accounts').selectAll().where('id', '=', acct.id).executeTakeFirstOrThrow()
      assert.ok(row.password_hash?.startsWith('scrypt$'))
      assert.ok(!row.password_hash?.includes('correct horse battery'))
      assert.ok(await reg.accounts.setQuota(acct.id, { storageBytes: 1000, uploadBytes: 100 }))
      const q = await reg.accounts.get(acct.id)
      assert.equal(q?.quotaStorageBytes, 1000)
      assert.equal(q?.quotaUploadBytes, 100)
      assert.equal(await reg.accounts.setQuota(randomUUID(), { storageBytes: 1 }), false)
      const page = await reg.accounts.list({ limit: 1 })
      assert.equal(page.items.length, 1)
      assert.ok(page.cursor)
      assert.equal(typeof (await reg.accounts.hasAdmin()), 'boolean')
      await reg.accounts.create({ email: email(), role: 'admin' })
      assert.equal(await reg.accounts.hasAdmin(), true)
      await reg.ping()
      assert.ok((await reg.pins.count()) >= 0)
      assert.ok((await reg.uploads.countActive()) >= 0)
      assert.ok(await reg.accounts.setDisabled(acct.id, true))
      assert.equal(await reg.accounts.authenticatePassword(e, 'correct horse battery'), undefined)
    })

    it('stores API key secrets only as hashes; authenticate honours revocation and expiry', async () => {
      const acct = await reg.accounts.create({ email: email() })
      const { key, secret } = await reg.apiKeys.create(acct.id, { description: 'ci', scopes: ['read'] })
      assert.ok(secret.startsWith(key.prefix))
      const rows = await reg.db.selectFrom('api_keys').selectAll().where('account_id', '=', acct.id).execute()
      assert.equal(rows.length, 1)
      for (const value of Object.values(rows[0] as object)) {
        assert.ok(!String(value).includes(secret.slice(key.prefix.length)), 'secret must not be stored')
      }
      const ok = await reg.apiKeys.authenticate(secret)
      assert.equal(ok?.key.id, key.id)
      assert.equal(ok?.account.id, acct.id)
      assert.deepEqual(ok?.key.scopes, ['read'])
      assert.equal(await reg.apiKeys.authenticate(`${secret}x`), undefined)
      assert.equal(await reg.apiKeys.authenticate('garbage'), undefined)

      const other = await reg.accounts.create({ email: email() })
      assert.equal(await reg.apiKeys.revoke(other.id, key.id), false, 'another account cannot revoke')
      assert.ok(await reg.apiKeys.authenticate(secret))
      assert.equal(await reg.apiKeys.revoke(acct.id, key.id), true)
      assert.equal(await reg.apiKeys.authenticate(secret), undefined)
      assert.equal(await reg.apiKeys.revoke(acct.id, key.id), true, 'idempotent')

      const expiring = await reg.apiKeys.create(acct.id, { expiresAt: Date.now() + 60_000 })
      assert.ok(await reg.apiKeys.authenticate(expiring.secret))
      assert.equal(await reg.apiKeys.authenticate(expiring.secret, Date.now() + 120_000), undefined)
      const expired = await reg.apiKeys.create(acct.id, { expiresAt: Date.now() - 1 })
      assert.equal(await reg.apiKeys.authenticate(expired.secret), undefined)
      const listed = await reg.apiKeys.list(acct.id)
      assert.equal(listed.length, 3)
      assert.deepEqual(await reg.apiKeys.list(other.id), [])
    })

    it('token revocation state: keys revoked or expired, sign-outs until expiry, valid-after bumped by account changes', async () => {
      const acct = await reg.accounts.create({ email: email(), password: 'long-enough-1' })
      const live = await reg.apiKeys.create(acct.id)
      const expiring = await reg.apiKeys.create(acct.id, { expiresAt: Date.now() + 60_000 })
      let state = await reg.tokenRevocations.state(acct.id, live.key.id)
      assert.deepEqual(state.account, { disabled: false, role: 'user', tokensValidAfter: 0 })
      assert.equal(state.keyRevoked, false)
      assert.equal((await reg.tokenRevocations.state(acct.id, expiring.key.id, Date.now() + 120_000)).keyRevoked, true, 'expired key')
      await reg.apiKeys.revoke(acct.id, live.key.id)
      assert.equal((await reg.tokenRevocations.state(acct.id, live.key.id)).keyRevoked, true)
      const other = await reg.accounts.create({ email: email() })
      assert.equal((await reg.tokenRevocations.state(other.id, expiring.key.id)).keyRevoked, true, 'another account’s key counts as gone')
      assert.equal((await reg.tokenRevocations.state('no-such-account', undefined)).account, undefined)

      await reg.tokenRevocations.revokeToken(acct.id, 'tok-a', Date.now() + 60_000)
      await reg.tokenRevocations.revokeToken(acct.id, 'tok-a', Date.now() + 60_000) // idempotent
      await reg.tokenRevocations.revokeToken(acct.id, 'tok-old', Date.now() - 1)
      state = await reg.tokenRevocations.state(acct.id, undefined)
      assert.deepEqual([...state.revokedTokenIds], ['tok-a'], 'expired sign-outs are not listed')
      assert.deepEqual([...(await reg.tokenRevocations.state(other.id, undefined)).revokedTokenIds], [])

      for (const change of [
        () => reg.accounts.setPassword(acct.id, 'another-password'),
        () => reg.accounts.setRole(acct.id, 'admin'),
        () => reg.accounts.setDisabled(acct.id, true),
        () => reg.tokenRevocations.revokeAll(acct.id),
      ]) {
        const before = (await reg.tokenRevocations.state(acct.id, undefined)).account?.tokensValidAfter ?? 0
        await new Promise((resolve) => setTimeout(resolve, 2))
        await change()
        const after = (await reg.tokenRevocations.state(acct.id, undefined)).account?.tokensValidAfter ?? 0
        assert.ok(after > before, String(change))
      }
    })

    it('sessions: refresh tokens stored hashed, rotated atomically, a late replay ends the session, revocations end them', async () => {
      const acct = await reg.accounts.create({ email: email(), password: 'long-enough-1' })
      const started = await reg.sessions.start(acct.id, 60_000)
      assert.match(started.refreshToken, /^pfr_/)
      const stored = await reg.db.selectFrom('sessions').selectAll().where('account_id', '=', acct.id).execute()
      assert.equal(stored.length, 1)
      assert.notEqual(stored[0]?.token_hash, started.refreshToken, 'only the hash is stored')
      const options = { ttlMs: 60_000, graceMs: 60_000 }
      // two renewals of one token at once (two tabs): both succeed within the grace
      const [a, b] = await Promise.all([reg.sessions.renew(started.refreshToken, options), reg.sessions.renew(started.refreshToken, options)])
      assert.equal(a?.accountId, acct.id)
      assert.equal(b?.accountId, acct.id)
      const replaced = (b ?? a)?.refreshToken ?? ''
      const newest = (await reg.sessions.renew(replaced, options))?.refreshToken
      assert.ok(newest, 'the newest token renews')
      assert.equal(await reg.sessions.renew(started.refreshToken, options), undefined, 'a token two rotations old is refused')
      // the token just replaced, presented after the grace, ends the whole session
      await new Promise((resolve) => setTimeout(resolve, 5))
      assert.equal(await reg.sessions.renew(replaced, { ttlMs: 60_000, graceMs: 0 }), undefined)
      assert.equal(await reg.sessions.renew(newest, options), undefined, 'replay detected: the thief and the owner both sign in again')
      assert.equal(await reg.sessions.renew('pfr_unknown', options), undefined)
      assert.equal(await reg.sessions.renew('not-a-refresh-token', options), undefined)

      const expired = await reg.sessions.start(acct.id, 1)
      await new Promise((resolve) => setTimeout(resolve, 5))
      assert.equal(await reg.sessions.renew(expired.refreshToken, options), undefined, 'expired')

      const ended = await reg.sessions.start(acct.id, 60_000)
      await reg.sessions.end(ended.refreshToken)
      assert.equal(await reg.sessions.renew(ended.refreshToken, options), undefined, 'signed out')

      for (const change of [
        () => reg.accounts.setPassword(acct.id, 'another-password'),
        () => reg.accounts.setRole(acct.id, 'admin'),
        () => reg.accounts.setDisabled(acct.id, true),
        () => reg.tokenRevocations.revokeAll(acct.id),
      ]) {
        await reg.accounts.setDisabled(acct.id, false)
        await new Promise((resolve) => setTimeout(resolve, 2))
        const live = await reg.sessions.start(acct.id, 60_000)
        await new Promise((resolve) => setTimeout(resolve, 2))
        await change()
        assert.equal(await reg.sessions.renew(live.refreshToken, options), undefined, String(change))
      }
    })

    it('refuses control characters and bidi overrides in names, descriptions and emails', async () => {
      const a = (await reg.accounts.create({ email: email() })).id
      const cid = await randomCid()
      for (const name of ['esc\x1b[0m', 'cr\r', 'lf\n', 'tab\t', 'del\x7f', 'csi\x9b', 'rlo\u202e', 'lri\u2066', 'pdi\u2069', 'ls\u2028']) {
        await rejectsCode(reg.entries.addFile(a, '/Library', { name, cid, size: 1 }), 'ERR_CONTROL_CHARACTER')
        await rejectsCode(reg.entries.mkdir(a, `/Library/${name}`), 'ERR_CONTROL_CHARACTER')
        await rejectsCode(reg.apiKeys.create(a, { description: name }), 'ERR_CONTROL_CHARACTER')
        await rejectsCode(reg.pinRequests.create(a, { cid, name }), 'ERR_CONTROL_CHARACTER')
        await rejectsCode(reg.accounts.create({ email: `x${name}@example.com` }), 'ERR_CONTROL_CHARACTER')
      }
      assert.ok(await reg.entries.addFile(a, '/Library', { name: 'ünïcödé ✓ 名前 עברית', cid, size: 1 }), 'ordinary Unicode is fine')
    })

    it('gives every account a /Library root', async () => {
      const acct = await reg.accounts.create({ email: email() })
      const root = await reg.entries.getByPath(acct.id, '/Library')
      assert.equal(root?.kind, 'directory')
      assert.equal(root?.name, 'Library')
      assert.equal(root?.parentId, null)
      assert.equal((await reg.entries.ensureLibrary(acct.id)).id, root?.id, 'ensureLibrary is idempotent')
      assert.equal(await reg.entries.pathOf(acct.id, root?.id ?? ''), '/Library')
    })

    it('mkdir, addFile, list with paging, search, rename, move', async () => {
      const acct = await reg.accounts.create({ email: email() })
      const a = acct.id
      const docs = await reg.entries.mkdir(a, '/Library/docs')
      await rejectsCode(reg.entries.mkdir(a, '/Library/docs'), 'ERR_CONFLICT')
      assert.equal((await reg.entries.mkdir(a, '/Library/docs', { recursive: true })).id, docs.id)
      await rejectsCode(reg.entries.mkdir(a, '/Library/x/y'), 'ERR_NOT_FOUND')
      const deep = await reg.entries.mkdir(a, '/Library/x/y/z', { recursive: true })
      assert.equal(await reg.entries.pathOf(a, deep.id), '/Library/x/y/z')

      const cids: string[] = []
      for (let i = 0; i < 7; i++) {
        const cid = await randomCid()
        cids.push(cid)
        await reg.entries.addFile(a, '/Library/docs', { name: `file-${i}.txt`, cid, size: 10 * i, mtime: 1000 + i })
      }
      const folder = await reg.entries.addFolder(a, '/Library/docs', { name: 'album', cid: await randomCid(), size: 5 })
      assert.equal(folder.kind, 'folder')
      const f3 = await reg.entries.getByPath(a, '/Library/docs/file-3.txt')
      assert.equal(f3?.cid, cids[3])
      assert.equal(f3?.size, 30)
      assert.equal((await reg.entries.getByPath(a, '/Library/docs/'))?.id, docs.id)
      const inFolder = await reg.entries.resolve(a, '/Library/docs/album/sub/pic.jpg')
      assert.equal(inFolder?.entry.id, folder.id)
      assert.deepEqual(inFolder?.remainder, ['sub', 'pic.jpg'])
      assert.equal(await reg.entries.getByPath(a, '/Library/docs/album/sub'), undefined)
      assert.equal(await reg.entries.getByPath(a, '/Library/docs/file-3.txt/x'), undefined)
      assert.equal(await reg.entries.getByPath(a, '/Library/nope'), undefined)

      // paging by name: 8 entries, pages of 3
      const names: string[] = []
      let cursor: string | undefined
      let pages = 0
      do {
        const page = await reg.entries.list(a, docs.id, { limit: 3, cursor })
        assert.ok(page)
        names.push(...page.items.map((e) => e.name))
        cursor = page.cursor
        pages++
      } while (cursor !== undefined)
      assert.equal(pages, 3)
      assert.deepEqual(names, ['album', ...Array.from({ length: 7 }, (_, i) => `file-${i}.txt`)])
      const bySize = await reg.entries.list(a, docs.id, { sort: 'size', order: 'desc', limit: 2 })
      assert.deepEqual(
        bySize?.items.map((e) => e.name),
        ['file-6.txt', 'file-5.txt'],
      )
      const next = await reg.entries.list(a, docs.id, { sort: 'size', order: 'desc', limit: 2, cursor: bySize?.cursor })
      assert.deepEqual(
        next?.items.map((e) => e.name),
        ['file-4.txt', 'file-3.txt'],
      )
      await rejectsCode(reg.entries.list(a, docs.id, { cursor: 'not-a-cursor' }), 'ERR_INVALID_ARGUMENT')

      // search
      const byName = await reg.entries.search(a, { name: 'FILE-1' })
      assert.deepEqual(
        byName.map((e) => e.path),
        ['/Library/docs/file-1.txt'],
      )
      const byCid = await reg.entries.search(a, { cid: cids[5] })
      assert.deepEqual(
        byCid.map((e) => e.path),
        ['/Library/docs/file-5.txt'],
      )
      await reg.entries.addFile(a, '/Library/x/y', { name: 'file-in-x.txt', cid: await randomCid(), size: 1 })
      const underX = await reg.entries.search(a, { pathPrefix: '/Library/x', name: 'file' })
      assert.deepEqual(
        underX.map((e) => e.path),
        ['/Library/x/y/file-in-x.txt'],
      )
      assert.deepEqual(await reg.entries.search(a, { name: '%' }), [], 'LIKE wildcards are escaped')

      // rename and move
      const renamed = await reg.entries.rename(a, f3?.id ?? '', 'three.txt')
      assert.equal(renamed?.name, 'three.txt')
      assert.equal(await reg.entries.getByPath(a, '/Library/docs/file-3.txt'), undefined)
      assert.equal((await reg.entries.getByPath(a, '/Library/docs/three.txt'))?.cid, cids[3])
      await rejectsCode(reg.entries.rename(a, f3?.id ?? '', 'file-4.txt'), 'ERR_CONFLICT')
      const x = await reg.entries.getByPath(a, '/Library/x')
      const moved = await reg.entries.move(a, docs.id, x?.id ?? '')
      assert.equal(moved?.parentId, x?.id)
      assert.equal((await reg.entries.getByPath(a, '/Library/x/docs/three.txt'))?.cid, cids[3])
      await rejectsCode(reg.entries.move(a, x?.id ?? '', deep.id), 'ERR_CONFLICT')
      const root = await reg.entries.getByPath(a, '/Library')
      await rejectsCode(reg.entries.rename(a, root?.id ?? '', 'Other'), 'ERR_INVALID_PATH')
      await rejectsCode(reg.entries.remove(a, root?.id ?? ''), 'ERR_INVALID_PATH')

      // a file name cannot become a directory and vice versa
      await rejectsCode(reg.entries.mkdir(a, '/Library/x/docs/three.txt'), 'ERR_CONFLICT')
      await rejectsCode(
        reg.entries.addFile(a, '/Library/x', { name: 'docs', cid: await randomCid(), size: 1 }),
        'ERR_CONFLICT',
      )
      await rejectsCode(
        reg.entries.addFile(a, '/Library/missing', { name: 'f', cid: await randomCid(), size: 1 }),
        'ERR_NOT_FOUND',
      )
      const created = await reg.entries.addFile(a, '/Library/new/dir', {
        name: 'f',
        cid: await randomCid(),
        size: 1,
        createParents: true,
      })
      assert.equal(await reg.entries.pathOf(a, created.id), '/Library/new/dir/f')
      await rejectsCode(reg.entries.remove(a, x?.id ?? ''), 'ERR_DIRECTORY_NOT_EMPTY')
      const removed = await reg.entries.remove(a, x?.id ?? '', { recursive: true })
      assert.ok(removed)
      assert.equal(removed.removedEntries, 13) // x, y, z, file-in-x, docs (moved under x), its 7 files and album
      assert.equal(await reg.entries.getByPath(a, '/Library/x'), undefined)
      assert.equal(await reg.entries.get(a, docs.id), undefined)
    })

    it('isolates accounts: ids and paths of another account behave as not found', async () => {
      const a = (await reg.accounts.create({ email: email() })).id
      const b = (await reg.accounts.create({ email: email() })).id
      const dir = await reg.entries.mkdir(a, '/Library/private')
      const cid = await randomCid()
      const file = await reg.entries.addFile(a, '/Library/private', { name: 'secret.txt', cid, size: 3 })
      assert.equal(await reg.entries.get(b, file.id), undefined)
      assert.equal(await reg.entries.get(b, dir.id), undefined)
      assert.equal(await reg.entries.getByPath(b, '/Library/private/secret.txt'), undefined)
      assert.equal(await reg.entries.list(b, dir.id), undefined)
      assert.equal(await reg.entries.pathOf(b, file.id), undefined)
      assert.deepEqual(await reg.entries.search(b, { cid }), [])
      assert.deepEqual(await reg.entries.search(b, { name: 'secret' }), [])
      assert.equal(await reg.entries.rename(b, file.id, 'mine.txt'), undefined)
      const bRoot = await reg.entries.getByPath(b, '/Library')
      assert.equal(await reg.entries.move(b, file.id, bRoot?.id ?? ''), undefined)
      assert.equal(await reg.entries.move(a, file.id, bRoot?.id ?? ''), undefined, 'cannot move into B')
      assert.equal(await reg.entries.remove(b, file.id), undefined)
      assert.equal(await reg.entries.remove(b, dir.id, { recursive: true }), undefined)
      assert.equal(await reg.pins.getForAccount(b, cid), undefined)
      assert.equal((await reg.pins.getForAccount(a, cid))?.cid, cid)
      assert.equal((await reg.entries.get(a, file.id))?.name, 'secret.txt')
      const up = await reg.uploads.create(a, { targetPath: '/Library/private' })
      assert.equal(await reg.uploads.get(b, up.id), undefined)
      assert.equal(await reg.uploads.setStatus(b, up.id, 'error'), undefined)
    })

    it('lists an account\'s pins by reference kind, paged, never another account\'s', async () => {
      const a = (await reg.accounts.create({ email: email() })).id
      const b = (await reg.accounts.create({ email: email() })).id
      const cids = (await Promise.all([randomCid(), randomCid(), randomCid()])).sort()
      const [c1, c2, c3] = cids as [string, string, string]
      await reg.pins.addReference(c1, { kind: 'rpc', id: a, accountId: a }, { size: 10 })
      await reg.pins.addReference(c2, { kind: 'rpc', id: a, accountId: a }, { size: 20 })
      await reg.pins.addReference(c2, { kind: 'rpc', id: b, accountId: b }, { size: 20 })
      await reg.pins.addReference(c3, { kind: 'rpc', id: b, accountId: b }, { size: 30 })
      await reg.entries.addFile(a, '/Library', { name: 'x', cid: c3, size: 30 })
      assert.deepEqual((await reg.pins.listForAccount(a, { kind: 'rpc' })).map((p) => p.cid), [c1, c2])
      assert.deepEqual((await reg.pins.listForAccount(a)).map((p) => p.cid), [c1, c2, c3])
      assert.deepEqual((await reg.pins.listForAccount(a, { limit: 1, after: c1 })).map((p) => p.cid), [c2])
      assert.deepEqual((await reg.pins.listForAccount(b, { cids: [c1, c3] })).map((p) => p.cid), [c3])
      assert.deepEqual(await reg.pins.listForAccount(b, { cids: [] }), [])
      assert.equal(await reg.pins.bytesForAccount(a, 'rpc'), 30)
      assert.equal(await reg.pins.bytesForAccount(b, 'rpc'), 50)
      await reg.pins.removeReference(c1, { kind: 'rpc', id: a })
      assert.deepEqual((await reg.pins.listForAccount(a, { kind: 'rpc' })).map((p) => p.cid), [c2])
    })

    it('path versions: the newest mtime wins, older versions stay listed as versions', async () => {
      const a = (await reg.accounts.create({ email: email() })).id
      const [c1, c2, c3] = [await randomCid(), await randomCid(), await randomCid()]
      const v1 = await reg.entries.addFile(a, '/Library', { name: 'report.pdf', cid: c1, size: 1, mtime: 2000 })
      const v2 = await reg.entries.addFile(a, '/Library', { name: 'report.pdf', cid: c2, size: 2, mtime: 3000 })
      assert.equal((await reg.entries.getByPath(a, '/Library/report.pdf'))?.cid, c2)
      // added later but older mtime: does not win
      const v3 = await reg.entries.addFile(a, '/Library', { name: 'report.pdf', cid: c3, size: 3, mtime: 1000 })
      assert.deepEqual([v1.version, v2.version, v3.version], [1, 2, 3])
      assert.equal((await reg.entries.getByPath(a, '/Library/report.pdf'))?.cid, c2)
      const root = await reg.entries.getByPath(a, '/Library')
      const listed = await reg.entries.list(a, root?.id ?? '')
      assert.deepEqual(
        listed?.items.map((e) => e.cid),
        [c2],
      )
      const all = await reg.entries.list(a, root?.id ?? '', { versions: 'all', sort: 'mtime' })
      assert.deepEqual(
        all?.items.map((e) => e.cid),
        [c3, c1, c2],
      )
      assert.deepEqual(
        (await reg.entries.versions(a, root?.id ?? '', 'report.pdf')).map((e) => e.cid),
        [c2, c1, c3],
      )
      // equal mtime: the later insertion wins
      const c4 = await randomCid()
      await reg.entries.addFile(a, '/Library', { name: 'report.pdf', cid: c4, size: 4, mtime: 3000 })
      assert.equal((await reg.entries.getByPath(a, '/Library/report.pdf'))?.cid, c4)
      // removing one version keeps the others
      const r = await reg.entries.remove(a, v2.id, { onlyThisVersion: true })
      assert.deepEqual(r, { removedEntries: 1, releasedCids: [c2] })
      assert.equal((await reg.entries.getByPath(a, '/Library/report.pdf'))?.cid, c4)
      // renaming moves every version; removing without onlyThisVersion removes them all
      const renamed = await reg.entries.rename(a, v1.id, 'final.pdf')
      assert.equal(renamed?.name, 'final.pdf')
      assert.equal(await reg.entries.getByPath(a, '/Library/report.pdf'), undefined)
      assert.equal((await reg.entries.getByPath(a, '/Library/final.pdf'))?.cid, c4)
      const gone = await reg.entries.remove(a, v1.id)
      assert.equal(gone?.removedEntries, 3)
      assert.deepEqual(gone?.releasedCids.sort(), [c1, c3, c4].sort())
    })

    it('dedups pins across accounts and releases a pin only when no reference remains', async () => {
      const a = (await reg.accounts.create({ email: email() })).id
      const b = (await reg.accounts.create({ email: email() })).id
      const cid = await randomCid()
      const ea = await reg.entries.addFile(a, '/Library', { name: 'same.bin', cid, size: 100 })
      const ea2 = await reg.entries.addFile(a, '/Library', { name: 'copy.bin', cid, size: 100 })
      const eb = await reg.entries.addFile(b, '/Library', { name: 'other-name.bin', cid, size: 100 })
      const pins = await reg.db.selectFrom('pins').selectAll().where('cid', '=', cid).execute()
      assert.equal(pins.length, 1)
      assert.equal(await reg.pins.referenceCount(cid), 3)
      assert.equal(await reg.entries.storedBytes(a), 100, 'identical content counts once per account')

      const node = await reg.nodes.register({ id: `node-${randomUUID()}`, publicKey: 'pk', name: 'n1' })
      await reg.allocations.allocate(cid, node.id)
      await reg.allocations.setStatus(cid, node.id, 'pinned')

      assert.deepEqual(await reg.entries.remove(a, ea.id), { removedEntries: 1, releasedCids: [] })
      assert.deepEqual(await reg.entries.remove(a, ea2.id), { removedEntries: 1, releasedCids: [] })
      assert.equal((await reg.pins.get(cid))?.cid, cid, 'B still references it')
      assert.equal(await reg.pins.releaseIfUnreferenced(cid), false)
      assert.deepEqual(await reg.entries.remove(b, eb.id), { removedEntries: 1, releasedCids: [cid] })
      assert.equal(await reg.pins.get(cid), undefined)
      assert.equal((await reg.allocations.get(cid, node.id))?.status, 'unpinning', 'nodes are told to unpin')
      assert.equal(await reg.pins.releaseIfUnreferenced(cid), false, 'idempotent')

      // pin requests hold references too
      const cid2 = await randomCid()
      const req = await reg.pinRequests.create(a, { cid: cid2, name: 'pr' })
      const e2 = await reg.entries.addFile(b, '/Library', { name: 'f', cid: cid2, size: 1 })
      assert.deepEqual(await reg.entries.remove(b, e2.id), { removedEntries: 1, releasedCids: [] })
      assert.equal(await reg.pinRequests.remove(b, req.requestid), undefined)
      assert.deepEqual(await reg.pinRequests.remove(a, req.requestid), { released: true })
      assert.equal(await reg.pins.get(cid2), undefined)
    })

    it('pin requests get unique increasing created timestamps', async () => {
      const a = (await reg.accounts.create({ email: email() })).id
      const cid = await randomCid()
      const reqs = []
      for (let i = 0; i < 5; i++) reqs.push(await reg.pinRequests.create(a, { cid, meta: { i: String(i) } }))
      const created = reqs.map((r) => r.created)
      assert.equal(new Set(created).size, 5)
      assert.deepEqual([...created].sort((x, y) => x - y), created)
      assert.equal(new Set(reqs.map((r) => r.requestid)).size, 5)
      const page = await reg.pinRequests.list(a, { limit: 2, status: ['queued'] })
      assert.equal(page.count, 5)
      assert.deepEqual(
        page.results.map((r) => r.requestid),
        [reqs[4]?.requestid, reqs[3]?.requestid],
      )
      const older = await reg.pinRequests.list(a, { limit: 10, before: page.results[1]?.created })
      assert.equal(older.results.length, 3)
      assert.equal((await reg.pins.get(cid))?.cid, cid)
    })

    it('pin requests: name match modes, meta AND filter, replace, listByStatus, setStatusByCid, bytesReferencedBy', async () => {
      const a = (await reg.accounts.create({ email: email() })).id
      const b = (await reg.accounts.create({ email: email() })).id
      const [c1, c2, c3] = [await randomCid(), await randomCid(), await randomCid()]
      const r1 = await reg.pinRequests.create(a, { cid: c1, name: 'Holiday Photos', meta: { app: 'x', team: 'blue' } })
      const r2 = await reg.pinRequests.create(a, { cid: c2, name: 'holiday photos', meta: { app: 'x', team: 'red' } })
      const r3 = await reg.pinRequests.create(a, { cid: c1, name: '100%_done', meta: { 'a"b': 'c,"d":"e', app: 'y' } })
      await reg.pinRequests.create(b, { cid: c1, name: 'Holiday Photos', meta: { app: 'x' } })
      const ids = async (f: Parameters<typeof reg.pinRequests.list>[1]) =>
        (await reg.pinRequests.list(a, f)).results.map((r) => r.requestid)
      assert.deepEqual(await ids({ name: 'Holiday Photos' }), [r1.requestid])
      assert.deepEqual(await ids({ name: 'holiday PHOTOS', match: 'iexact' }), [r2.requestid, r1.requestid])
      assert.deepEqual(await ids({ name: 'day Pho', match: 'partial' }), [r1.requestid])
      assert.deepEqual(await ids({ name: 'DAY PHO', match: 'ipartial' }), [r2.requestid, r1.requestid])
      assert.deepEqual(await ids({ name: '%_', match: 'partial' }), [r3.requestid], 'no LIKE wildcards')
      assert.deepEqual(await ids({ name: '_', match: 'exact' }), [])
      assert.deepEqual(await ids({ meta: { app: 'x' } }), [r2.requestid, r1.requestid])
      assert.deepEqual(await ids({ meta: { app: 'x', team: 'blue' } }), [r1.requestid])
      assert.deepEqual(await ids({ meta: { app: 'x', team: 'green' } }), [])
      assert.deepEqual(await ids({ meta: { d: 'e' } }), [], 'a pair inside a value does not match')
      assert.deepEqual(await ids({ meta: { 'a"b': 'c,"d":"e' } }), [r3.requestid])
      assert.deepEqual(await ids({ meta: { app: 'X' } }), [], 'meta values are case-sensitive')
      assert.equal((await reg.pinRequests.list(a, { meta: { app: 'x' }, limit: 1 })).count, 2)
      await rejectsCode(reg.pinRequests.list(a, { name: 'x', match: 'fuzzy' as 'exact' }), 'ERR_INVALID_ARGUMENT')

      // replace: the new request references its pin before the old reference goes
      assert.equal(await reg.pinRequests.replace(b, r2.requestid, { cid: c3 }), undefined, "not b's")
      const replaced = await reg.pinRequests.replace(a, r2.requestid, { cid: c3, name: 'v2' })
      assert.ok(replaced)
      assert.notEqual(replaced.request.requestid, r2.requestid)
      assert.equal(replaced.previous.requestid, r2.requestid)
      assert.equal(replaced.released, c2)
      assert.ok(replaced.request.created > r3.created)
      assert.equal(await reg.pinRequests.get(a, r2.requestid), undefined)
      assert.equal(await reg.pins.get(c2), undefined)
      const same = await reg.pinRequests.replace(a, replaced.request.requestid, { cid: c3, name: 'v3' })
      assert.equal(same?.released, null, 'same CID: the pin is kept')
      assert.ok(await reg.pins.get(c3))
      assert.equal(await reg.pinRequests.replace(a, r2.requestid, { cid: c3 }), undefined, 'gone')

      // status by CID across accounts, and the resume listing
      assert.equal(await reg.pinRequests.setStatusByCid(c1, ['queued', 'pinning'], 'pinned'), 3)
      assert.equal(await reg.pinRequests.setStatusByCid(c1, ['queued', 'pinning'], 'failed'), 0)
      const pinnedC1 = await reg.pinRequests.listByStatus(['pinned'])
      for (const r of [r1, r3]) assert.ok(pinnedC1.some((p) => p.requestid === r.requestid))
      const firstPage = await reg.pinRequests.listByStatus(['pinned'], { limit: 1 })
      const next = await reg.pinRequests.listByStatus(['pinned'], { after: firstPage[0]?.requestid, limit: 1 })
      assert.ok((next[0]?.requestid ?? '') > (firstPage[0]?.requestid ?? ''))

      await reg.pins.update(c1, { size: 1000 })
      await reg.pins.update(c3, { size: 24 })
      // a request not yet pinned holds nothing: no bytes counted, no read granted
      assert.equal(await reg.pins.bytesReferencedBy(a), 1000)
      assert.equal(await reg.pins.getForAccount(a, c3), undefined)
      assert.equal(await reg.pinRequests.setStatusByCid(c3, ['queued'], 'pinned', { accountId: b }), 0, "only b's requests")
      assert.equal(await reg.pinRequests.setStatusByCid(c3, ['queued'], 'pinned', { accountId: a }), 1)
      assert.equal(await reg.pins.bytesReferencedBy(a), 1024)
      assert.ok(await reg.pins.getForAccount(a, c3))
      assert.equal(await reg.pins.bytesReferencedBy(b), 1000)
    })

    it('rejects invalid names and paths with ERR_INVALID_PATH', async () => {
      const a = (await reg.accounts.create({ email: email() })).id
      const cid = await randomCid()
      for (const name of ['', '.', '..', 'a/b', 'nul\0byte', 'é'.repeat(128)]) {
        await rejectsCode(reg.entries.addFile(a, '/Library', { name, cid, size: 1 }), 'ERR_INVALID_PATH')
      }
      for (const path of ['Library/a', '/Library/../x', '/Library//a', '/Other/a', '/Library/./a', '']) {
        await rejectsCode(reg.entries.getByPath(a, path), 'ERR_INVALID_PATH')
        await rejectsCode(reg.entries.mkdir(a, path), 'ERR_INVALID_PATH')
      }
      const f = await reg.entries.addFile(a, '/Library', { name: 'ok', cid, size: 1 })
      await rejectsCode(reg.entries.rename(a, f.id, '..'), 'ERR_INVALID_PATH')
      assert.ok(await reg.entries.addFile(a, '/Library', { name: 'é'.repeat(127), cid, size: 1 }))
      await rejectsCode(reg.entries.addFile(a, '/Library', { name: 'x', cid: 'not-a-cid', size: 1 }), 'ERR_INVALID_CID')
    })

    it('uploads move through statuses; done is terminal', async () => {
      const a = (await reg.accounts.create({ email: email() })).id
      const up = await reg.uploads.create(a, { targetPath: '/Library', name: 'big.iso' })
      assert.equal(up.status, 'receiving')
      await reg.uploads.setStatus(a, up.id, 'importing', { bytes: 1234 })
      const cid = await randomCid()
      const done = await reg.uploads.setStatus(a, up.id, 'done', { cid })
      assert.equal(done?.status, 'done')
      assert.equal(done?.bytes, 1234)
      assert.equal((await reg.uploads.get(a, up.id))?.cid, cid)
      await rejectsCode(reg.uploads.setStatus(a, up.id, 'error', { reason: 'late' }), 'ERR_CONFLICT')
      assert.ok(!(await reg.uploads.listUnfinished()).some((u) => u.id === up.id))
    })

    it('open uploads: counted and their declared bytes summed per account; only open ones can be removed', async () => {
      const a = (await reg.accounts.create({ email: email() })).id
      const b = (await reg.accounts.create({ email: email() })).id
      assert.deepEqual(await reg.uploads.open(a), { count: 0, reservedBytes: 0 })
      const big = await reg.uploads.create(a, { targetPath: '/Library', name: 'big', bytes: 5_000_000_000 })
      const small = await reg.uploads.create(a, { targetPath: '/Library', name: 'small', bytes: 300 })
      await reg.uploads.create(b, { targetPath: '/Library', name: 'other', bytes: 7 })
      await rejectsCode(reg.uploads.create(a, { targetPath: '/Library', bytes: -1 }), 'ERR_INVALID_ARGUMENT')
      assert.deepEqual(await reg.uploads.open(a), { count: 2, reservedBytes: 5_000_000_300 })
      assert.deepEqual(await reg.uploads.open(a, big.id), { count: 1, reservedBytes: 300 })
      await reg.uploads.setStatus(a, small.id, 'importing')
      assert.deepEqual(await reg.uploads.open(a), { count: 1, reservedBytes: 5_000_000_000 })
      assert.equal(await reg.uploads.removeOpen(a, small.id), false, 'an upload past receiving stays')
      assert.equal(await reg.uploads.removeOpen(b, big.id), false, "another account's upload stays")
      assert.equal(await reg.uploads.removeOpen(a, big.id), true)
      assert.equal(await reg.uploads.get(a, big.id), undefined)
      assert.deepEqual(await reg.uploads.open(a), { count: 0, reservedBytes: 0 })
    })

    it('records usage and sums it per period', async () => {
      const a = (await reg.accounts.create({ email: email() })).id
      await reg.usage.record(a, 'upload_bytes', 100, 1000)
      await reg.usage.record(a, 'upload_bytes', 50, 2000)
      await reg.usage.record(a, 'storage_byte_hours', 1.5e12, 2500)
      await reg.usage.record(a, 'requests', 3, 5000)
      const t = await reg.usage.totals(a, 1000, 5000)
      assert.deepEqual(t, { storage_byte_hours: 1.5e12, upload_bytes: 150, download_bytes: 0, requests: 0 })
    })

    it('groups usage into epoch-aligned buckets and finds the latest record of a kind', async () => {
      const a = (await reg.accounts.create({ email: email() })).id
      const hour = 3_600_000
      const base = 1_700_000_000_000 - (1_700_000_000_000 % hour)
      await reg.usage.record(a, 'storage_byte_hours', 10.5, base + 1)
      await reg.usage.record(a, 'storage_byte_hours', 20, base + hour - 1)
      await reg.usage.record(a, 'requests', 3, base + 10)
      await reg.usage.record(a, 'storage_byte_hours', 7, base + 3 * hour)
      await reg.usage.record(a, 'storage_byte_hours', 99, base + 4 * hour)
      const series = await reg.usage.series(a, base, base + 4 * hour, hour)
      assert.deepEqual(series, [
        { start: base, storage_byte_hours: 30.5, upload_bytes: 0, download_bytes: 0, requests: 3 },
        { start: base + 3 * hour, storage_byte_hours: 7, upload_bytes: 0, download_bytes: 0, requests: 0 },
      ])
      assert.ok(((await reg.usage.latestTs('storage_byte_hours')) ?? 0) >= base + 4 * hour)
      await rejectsCode(reg.usage.series(a, base, base + hour, 0), 'ERR_INVALID_ARGUMENT')
    })

    it('promisedBytes sums the sizes of pins allocated but not pinned yet, per node; node attempts are kept as reported', async () => {
      const node = await reg.nodes.register({ id: `node-${randomUUID()}`, publicKey: 'pk', name: 'promised' })
      const [queued, failed, pinned, unpinning] = [await randomCid(), await randomCid(), await randomCid(), await randomCid()]
      for (const [cid, size] of [[queued, 1000], [failed, 200], [pinned, 30], [unpinning, 4]] as const) {
        await reg.pins.ensure(cid, { size })
        await reg.allocations.allocate(cid, node.id)
      }
      await reg.allocations.setStatus(failed, node.id, 'failed', 'ERR_STORAGE_FULL', { attempts: 4 })
      await reg.allocations.setStatus(failed, node.id, 'failed', 'ERR_STORAGE_FULL', { attempts: 4 })
      assert.equal((await reg.allocations.get(failed, node.id))?.attempts, 4, 'a resent report changes nothing')
      await reg.allocations.setStatus(pinned, node.id, 'pinned')
      await reg.allocations.deallocate(unpinning, node.id)
      await reg.nodes.heartbeat(node.id, { at: Date.now() - 5000 })
      assert.deepEqual((await reg.allocations.promisedBytes()).get(node.id), { bytes: 1230, pins: 3 }, 'a copy pinned after the last report is still promised')
      await reg.nodes.heartbeat(node.id, { at: Date.now() + 5000 })
      assert.deepEqual((await reg.allocations.promisedBytes()).get(node.id), { bytes: 1200, pins: 2 }, 'queued + failed, not reported pinned or unpinning')
    })

    it('allocation changes get increasing seq and changesSince returns them in order', async () => {
      const node = await reg.nodes.register({ id: `node-${randomUUID()}`, publicKey: 'pk', name: 'n', tags: { region: 'eu' } })
      const other = await reg.nodes.register({ id: `node-${randomUUID()}`, publicKey: 'pk2', name: 'm' })
      await rejectsCode(reg.nodes.register({ id: node.id, publicKey: 'x', name: 'dup' }), 'ERR_CONFLICT')
      assert.deepEqual((await reg.nodes.get(node.id))?.tags, { region: 'eu' })
      const start = await reg.allocations.latestSeq()
      const [c1, c2] = [await randomCid(), await randomCid()]
      await reg.allocations.allocate(c1, node.id)
      await reg.allocations.allocate(c2, other.id)
      await reg.allocations.allocate(c2, node.id)
      await reg.allocations.setStatus(c1, node.id, 'pinning')
      await reg.allocations.setStatus(c1, node.id, 'failed', 'timeout')
      await reg.allocations.deallocate(c2, node.id)
      // concurrent writers still produce distinct, ordered seqs
      await Promise.all(Array.from({ length: 5 }, async () => reg.allocations.setStatus(c1, node.id, 'pinning')))
      const changes = await reg.allocations.changesSince(node.id, start)
      assert.equal(changes.length, 10)
      for (let i = 1; i < changes.length; i++) assert.ok((changes[i]?.seq ?? 0) > (changes[i - 1]?.seq ?? 0))
      assert.deepEqual(
        changes.slice(0, 5).map((c) => [c.cid, c.status]),
        [
          [c1, 'queued'],
          [c2, 'queued'],
          [c1, 'pinning'],
          [c1, 'failed'],
          [c2, 'unpinning'],
        ],
      )
      const resumed = await reg.allocations.changesSince(node.id, changes[2]?.seq ?? 0, { limit: 2 })
      assert.deepEqual(
        resumed.map((c) => c.seq),
        changes.slice(3, 5).map((c) => c.seq),
      )
      const a1 = await reg.allocations.get(c1, node.id)
      assert.equal(a1?.attempts, 1)
      assert.equal(a1?.seq, changes.at(-1)?.seq)
      assert.deepEqual(
        (await reg.allocations.listForNode(node.id, { status: ['unpinning'] })).map((x) => x.cid),
        [c2],
      )
      assert.ok(await reg.nodes.heartbeat(node.id, { status: 'online', capacity: { freeBytes: 10 } }))
      assert.equal((await reg.nodes.get(node.id))?.status, 'online')
    })

    it('nodes keep a forward-only cursor, the last report and a drain flag; unallocated pins are listed', async () => {
      const node = await reg.nodes.register({ id: `node-${randomUUID()}`, publicKey: 'pk', name: 'n' })
      assert.equal(node.cursor, 0)
      assert.equal(node.draining, false)
      assert.deepEqual(node.info, {})
      assert.ok(await reg.nodes.setCursor(node.id, 7))
      assert.equal(await reg.nodes.setCursor(node.id, 3), false, 'never rewinds')
      assert.equal((await reg.nodes.get(node.id))?.cursor, 7)
      assert.ok(await reg.nodes.heartbeat(node.id, { info: { version: '1', pins: 2 } }))
      assert.deepEqual((await reg.nodes.get(node.id))?.info, { version: '1', pins: 2 })
      assert.ok(await reg.nodes.setDraining(node.id, true))
      assert.equal((await reg.nodes.get(node.id))?.draining, true)
      const seen = (await reg.nodes.get(node.id))?.lastSeen
      assert.ok(await reg.nodes.setAddress(node.id, 'http://10.0.0.1:4001'))
      assert.equal((await reg.nodes.get(node.id))?.address, 'http://10.0.0.1:4001')
      assert.equal((await reg.nodes.get(node.id))?.lastSeen, seen, 'the vouched-for address is no sign of life')
      assert.ok(await reg.nodes.setAddress(node.id, null))
      assert.equal((await reg.nodes.get(node.id))?.address, null)
      assert.equal(await reg.nodes.setAddress('node-unknown', null), false)
      const [c1, c2] = [await randomCid(), await randomCid()]
      await reg.pins.ensure(c1)
      await reg.pins.ensure(c2)
      let unallocated = (await reg.pins.listUnallocated({ limit: 10_000 })).map((p) => p.cid)
      assert.ok(unallocated.includes(c1) && unallocated.includes(c2))
      await reg.allocations.allocate(c1, node.id)
      await reg.allocations.allocate(c2, node.id)
      await reg.allocations.deallocate(c2, node.id)
      unallocated = (await reg.pins.listUnallocated({ limit: 10_000 })).map((p) => p.cid)
      assert.ok(!unallocated.includes(c1), 'queued counts as allocated')
      assert.ok(unallocated.includes(c2), 'unpinning does not')
    })
  })
}
