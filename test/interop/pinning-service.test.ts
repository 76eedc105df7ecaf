import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import { importBytes, MemoryBlockstore } from '../../src/core/index.ts'
import { gatewayUrlToMultiaddr, multiaddrToGatewayUrl, parseRfc3339 } from '../../src/coordinator/pinning-service/index.ts'
import { createGatewayHandler, type ServedHandler, serveHandler } from '../../src/transfer/index.ts'
import { createTestAccount, seedFile, startTestCoordinator, type TestAccount, type TestCoordinator } from '../coordinator/seed-content.ts'

interface PinStatus {
  requestid: string
  status: string
  created: string
  pin: { cid: string; name?: string; origins: string[]; meta: Record<string, string> }
  delegates: string[]
  info: Record<string, string>
}
interface PinResults {
  count: number
  results: PinStatus[]
}
interface Answer<T> {
  status: number
  body: T
}

const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

describe('IPFS Pinning Service API v1.0.0 (/pinning)', () => {
  let coordinator: TestCoordinator
  let alice: TestAccount
  let bob: TestAccount
  let origin: ServedHandler
  const originStore = new MemoryBlockstore()

  before(async () => {
    // the test origins are on loopback, which origins may reach only when allow-listed
    coordinator = await startTestCoordinator({ PINFOLD_PINNING_ALLOW_ORIGINS: '127.0.0.1' })
    alice = await createTestAccount(coordinator, 'alice@example.com')
    bob = await createTestAccount(coordinator, 'bob@example.com')
    origin = await serveHandler(createGatewayHandler({ source: originStore }))
  })
  after(async () => {
    await origin?.close()
    await coordinator?.close()
  })

  async function call<T = PinStatus>(
    method: string,
    path: string,
    options: { token?: string | null; body?: unknown; rawBody?: string } = {},
  ): Promise<Answer<T>> {
    const headers: Record<string, string> = {}
    const token = options.token === undefined ? alice.token : options.token
    if (token !== null) headers.authorization = `Bearer ${token}`
    let body: string | undefined
    if (options.body !== undefined || options.rawBody !== undefined) {
      headers['content-type'] = 'application/json'
      body = options.rawBody ?? JSON.stringify(options.body)
    }
    const response = await fetch(`${coordinator.url}/pinning${path}`, { method, headers, body })
    const text = await response.text()
    return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T }
  }

  const list = (query: string, token?: string) => call<PinResults>('GET', `/pins${query === '' ? '' : `?${query}`}`, { token })

  /** Entries `originContent` created, by CID. */
  const seeded = new Map<string, string>()

  /**
   * Content the account already holds (a file it uploaded): only then does a request for it
   * find it at once. Content only another account holds is fetched like absent content.
   */
  async function originContent(bytes = randomBytes(2000), account = alice): Promise<string> {
    const entry = await seedFile(coordinator, account.id, '/Library/seed', `${randomBytes(8).toString('hex')}.bin`, bytes)
    seeded.set(entry.cid as string, entry.id)
    return entry.cid as string
  }

  /** Removes the file `originContent` created, so only pin requests reference the CID. */
  async function unseed(cid: string): Promise<void> {
    await coordinator.running.components.registry.entries.remove(alice.id, seeded.get(cid) ?? '', { recursive: false, onlyThisVersion: false })
  }

  /** Content only the second gateway (the "origin" peer) has. */
  async function remoteContent(bytes: Uint8Array): Promise<string> {
    return (await importBytes(bytes, originStore)).cid.toString()
  }

  async function waitFor(requestid: string, statuses: string[], token = alice.token): Promise<PinStatus> {
    const deadline = Date.now() + 15_000
    for (;;) {
      const got = await call('GET', `/pins/${requestid}`, { token })
      assert.equal(got.status, 200)
      if (statuses.includes(got.body.status)) return got.body
      if (Date.now() > deadline) assert.fail(`still ${got.body.status}`)
      await sleep(25)
    }
  }

  function assertFailure(answer: Answer<unknown>, status: number, reason: string): void {
    assert.equal(answer.status, status, JSON.stringify(answer.body))
    const body = answer.body as { error?: { reason?: unknown; details?: unknown } }
    assert.equal(body.error?.reason, reason)
    assert.equal(typeof body.error?.details, 'string')
    assert.deepEqual(Object.keys(body), ['error'])
  }

  function assertPinStatus(s: PinStatus): void {
    assert.equal(typeof s.requestid, 'string')
    assert.ok(['queued', 'pinning', 'pinned', 'failed'].includes(s.status))
    assert.match(s.created, RFC3339_MS)
    assert.ok(s.delegates.length >= 1 && s.delegates.length <= 20)
    for (const d of s.delegates) assert.match(d, /^\/(ip4|ip6|dns)\//)
    assert.equal(typeof s.info, 'object')
    for (const v of Object.values(s.info)) assert.equal(typeof v, 'string')
  }

  describe('auth and errors', () => {
    it('401 UNAUTHORIZED without a token or with a bad one, on every route', async () => {
      for (const [method, path] of [
        ['GET', '/pins'],
        ['POST', '/pins'],
        ['GET', '/pins/x'],
        ['POST', '/pins/x'],
        ['DELETE', '/pins/x'],
      ] as const) {
        const body = method === 'POST' ? { cid: 'bafkqaaa' } : undefined
        assertFailure(await call(method, path, { token: null, body }), 401, 'UNAUTHORIZED')
        assertFailure(await call(method, path, { token: 'not-a-token', body }), 401, 'UNAUTHORIZED')
      }
    })

    it('400 BAD_REQUEST for an invalid Pin', async () => {
      const cid = await originContent()
      const bad: unknown[] = [
        {},
        { cid: 'not-a-cid' },
        { cid: 42 },
        { cid, name: 'n'.repeat(256) },
        { cid, name: 7 },
        { cid, origins: 'not-an-array' },
        { cid, origins: Array.from({ length: 21 }, (_, i) => `/ip4/127.0.0.1/tcp/${1000 + i}/http`) },
        { cid, origins: ['/ip4/1.2.3.4/tcp/1/http', '/ip4/1.2.3.4/tcp/1/http'] },
        { cid, origins: ['http://not-a-multiaddr'] },
        { cid, meta: { n: 1 } },
        { cid, meta: ['x'] },
        [cid],
      ]
      for (const body of bad) assertFailure(await call('POST', '/pins', { body }), 400, 'BAD_REQUEST')
      assertFailure(await call('POST', '/pins', { rawBody: '{"cid":' }), 400, 'BAD_REQUEST')
      assert.equal((await call('POST', '/pins', { body: { cid, name: 'n'.repeat(255), origins: [], meta: {} } })).status, 202)
    })

    it('unknown routes under /pinning answer 404 NOT_FOUND in the spec shape', async () => {
      assertFailure(await call('GET', '/nothing-here'), 404, 'NOT_FOUND')
      assertFailure(await call('PUT', '/pins'), 404, 'NOT_FOUND')
      assertFailure(await call('GET', '/pins/a/b'), 404, 'NOT_FOUND')
    })
  })

  describe('add, get, replace, delete', () => {
    it('add content the service holds → 202 pinned, with the Pin echoed and delegates naming the coordinator', async () => {
      const cid = await originContent()
      const added = await call('POST', '/pins', { body: { cid, name: 'held.bin', meta: { app: 'test' } } })
      assert.equal(added.status, 202)
      assertPinStatus(added.body)
      assert.equal(added.body.status, 'pinned')
      assert.deepEqual(added.body.pin, { cid, name: 'held.bin', origins: [], meta: { app: 'test' } })
      const port = new URL(coordinator.url).port
      assert.ok(added.body.delegates.includes(`/ip4/127.0.0.1/tcp/${port}/http`), added.body.delegates.join())
      const got = await call('GET', `/pins/${added.body.requestid}`)
      assert.equal(got.status, 200)
      assert.equal(got.body.requestid, added.body.requestid)
      assert.equal(got.body.created, added.body.created)
      assert.equal(got.body.status, 'pinned')
      assert.ok(await coordinator.running.components.registry.pins.get(cid), 'a pin of the account in the registry')
    })

    it('add content nobody serves → 202 queued, then failed with info.status_details', async () => {
      const cid = CID.create(1, 0x55, (await importBytes(randomBytes(100), new MemoryBlockstore())).cid.multihash).toString()
      const added = await call('POST', '/pins', { body: { cid, origins: ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'] } })
      assert.equal(added.status, 202)
      assert.ok(['queued', 'pinning'].includes(added.body.status), added.body.status)
      const failed = await waitFor(added.body.requestid, ['failed'])
      assert.match(failed.info.status_details ?? '', /origin/)
    })

    it('the same CID pinned twice gets two requestids, both listed', async () => {
      const cid = await originContent()
      const a = await call('POST', '/pins', { body: { cid } })
      const b = await call('POST', '/pins', { body: { cid } })
      assert.notEqual(a.body.requestid, b.body.requestid)
      assert.ok(b.body.created > a.body.created)
      const listed = await list(`cid=${cid}`)
      assert.deepEqual(
        listed.body.results.map((r) => r.requestid),
        [b.body.requestid, a.body.requestid],
      )
    })

    it('replace → new requestid, the old one 404s, shared content stays through GC', async () => {
      const { repo, releaseContent } = coordinator.running.components
      const cid = await originContent()
      const first = await call('POST', '/pins', { body: { cid, name: 'v1' } })
      const replaced = await call('POST', `/pins/${first.body.requestid}`, { body: { cid, name: 'v2' } })
      assert.equal(replaced.status, 202)
      assertPinStatus(replaced.body)
      assert.notEqual(replaced.body.requestid, first.body.requestid)
      assert.equal(replaced.body.pin.name, 'v2')
      assert.equal(replaced.body.status, 'pinned')
      assertFailure(await call('GET', `/pins/${first.body.requestid}`), 404, 'NOT_FOUND')
      await releaseContent.collectNow()
      assert.ok(await repo.pins.get(CID.parse(cid)), 'still pinned in the origin repo')
      assert.ok(await repo.blocks.has(CID.parse(cid)))

      // replacing with other content releases the old CID (nothing else references it)
      await unseed(cid)
      const other = await originContent()
      const again = await call('POST', `/pins/${replaced.body.requestid}`, { body: { cid: other } })
      assert.equal(again.status, 202)
      assert.equal(again.body.pin.cid, other)
      await releaseContent.collectNow()
      assert.equal(await repo.pins.get(CID.parse(cid)), undefined)
      assert.equal(await repo.blocks.has(CID.parse(cid)), false, 'collected once unreferenced')
      assert.ok(await repo.blocks.has(CID.parse(other)))

      // an unknown request, and an invalid body, replace nothing
      assertFailure(await call('POST', `/pins/${first.body.requestid}`, { body: { cid } }), 404, 'NOT_FOUND')
      assertFailure(await call('POST', `/pins/${again.body.requestid}`, { body: { cid: 'nope' } }), 400, 'BAD_REQUEST')
      assert.equal((await call('GET', `/pins/${again.body.requestid}`)).status, 200)
    })

    it('delete → 202, then 404; content goes only when nothing else references it', async () => {
      const { repo, releaseContent } = coordinator.running.components
      const cid = await originContent()
      const a = await call('POST', '/pins', { body: { cid } })
      const b = await call('POST', '/pins', { body: { cid } }, )
      const deleted = await call('DELETE', `/pins/${a.body.requestid}`)
      assert.equal(deleted.status, 202)
      assert.equal(deleted.body, undefined)
      assertFailure(await call('GET', `/pins/${a.body.requestid}`), 404, 'NOT_FOUND')
      assertFailure(await call('DELETE', `/pins/${a.body.requestid}`), 404, 'NOT_FOUND')
      await releaseContent.collectNow()
      assert.ok(await repo.blocks.has(CID.parse(cid)), 'b still references it')
      // an entry of another account also keeps content alive
      const file = await seedFile(coordinator, bob.id, '/Library', 'shared.bin', randomBytes(3000))
      const c = await call('POST', '/pins', { body: { cid: file.cid } })
      assert.equal((await call('DELETE', `/pins/${c.body.requestid}`)).status, 202)
      await unseed(cid)
      assert.equal((await call('DELETE', `/pins/${b.body.requestid}`)).status, 202)
      await releaseContent.collectNow()
      assert.equal(await repo.blocks.has(CID.parse(cid)), false, 'released: unpinned and collected')
      assert.ok(await repo.blocks.has(CID.parse(file.cid as string)), "bob's entry keeps its content")
    })

    it('another account sees none of them: 404 on get/replace/delete, empty lists', async () => {
      const cid = await originContent()
      const mine = await call('POST', '/pins', { body: { cid, name: 'private' } })
      assertFailure(await call('GET', `/pins/${mine.body.requestid}`, { token: bob.token }), 404, 'NOT_FOUND')
      assertFailure(await call('POST', `/pins/${mine.body.requestid}`, { token: bob.token, body: { cid } }), 404, 'NOT_FOUND')
      assertFailure(await call('DELETE', `/pins/${mine.body.requestid}`, { token: bob.token }), 404, 'NOT_FOUND')
      const theirs = await list('status=queued,pinning,pinned,failed&limit=1000', bob.token)
      assert.equal(theirs.status, 200)
      assert.ok(!theirs.body.results.some((r) => r.requestid === mine.body.requestid))
      assert.equal((await list(`cid=${cid}`, bob.token)).body.count, 0)
      assert.equal((await call('GET', `/pins/${mine.body.requestid}`)).status, 200, 'alice still has it')
    })

    it('409 INSUFFICIENT_FUNDS when the storage quota is used up', async () => {
      const { registry } = coordinator.running.components
      const carol = await createTestAccount(coordinator, 'carol@example.com')
      await registry.accounts.setQuota(carol.id, { storageBytes: 1000 })
      const file = await seedFile(coordinator, carol.id, '/Library', 'big.bin', randomBytes(5000))
      const cid = await originContent()
      assertFailure(await call('POST', '/pins', { token: carol.token, body: { cid } }), 409, 'INSUFFICIENT_FUNDS')
      const already = await call('POST', '/pins', { token: carol.token, body: { cid: file.cid } })
      assert.equal(already.status, 202, 'content the account already stores costs nothing more')
      assertFailure(await call('POST', `/pins/${already.body.requestid}`, { token: carol.token, body: { cid } }), 409, 'INSUFFICIENT_FUNDS')
      assert.equal((await call('GET', `/pins/${already.body.requestid}`, { token: carol.token })).status, 200, 'a refused replace keeps the old request')
    })
  })

  describe('origins', () => {
    it('fetches from an HTTP origin (another gateway) → queued/pinning → pinned, verified into the origin repo', async () => {
      const { repo, registry } = coordinator.running.components
      const bytes = randomBytes(1_500_000)
      const cid = await remoteContent(bytes)
      const port = new URL(origin.url).port
      const origins = ['/ip4/10.255.255.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN', `/ip4/127.0.0.1/tcp/${port}/http`]
      const added = await call('POST', '/pins', { body: { cid, name: 'remote', origins } })
      assert.equal(added.status, 202)
      assert.ok(['queued', 'pinning'].includes(added.body.status), added.body.status)
      assert.deepEqual(added.body.pin.origins, origins)
      const pinned = await waitFor(added.body.requestid, ['pinned', 'failed'])
      assert.equal(pinned.status, 'pinned', JSON.stringify(pinned.info))
      assert.ok(await repo.pins.get(CID.parse(cid)))
      assert.ok(Number(pinned.info.dag_size) > bytes.length, 'the DAG size is recorded')
      assert.ok(((await registry.pins.get(cid))?.size ?? 0) > bytes.length)
      assert.equal((await list(`cid=${cid}`)).body.results[0]?.status, 'pinned')
    })

    it('a second request for content being fetched shares the fetch and ends pinned too', async () => {
      const cid = await remoteContent(randomBytes(800_000))
      const port = new URL(origin.url).port
      const origins = [`/ip4/127.0.0.1/tcp/${port}/http`]
      const [a, b] = await Promise.all([call('POST', '/pins', { body: { cid, origins } }), call('POST', '/pins', { body: { cid, origins } })])
      assert.equal((await waitFor(a.body.requestid, ['pinned', 'failed'])).status, 'pinned')
      assert.equal((await waitFor(b.body.requestid, ['pinned', 'failed'])).status, 'pinned')
    })
  })

  describe('list filters', () => {
    let dave: TestAccount
    const ids: Record<string, string> = {}
    const cids: string[] = []

    before(async () => {
      dave = await createTestAccount(coordinator, 'dave@example.com')
      for (let i = 0; i < 4; i++) cids.push(await originContent(randomBytes(2000), dave))
      const add = async (key: string, body: unknown) => {
        const r = await call('POST', '/pins', { token: dave.token, body })
        assert.equal(r.status, 202, JSON.stringify(r.body))
        ids[key] = r.body.requestid
        return r.body
      }
      await add('a', { cid: cids[0], name: 'Holiday Photos', meta: { app: 'gallery', year: '2024' } })
      await add('b', { cid: cids[1], name: 'holiday photos', meta: { app: 'gallery', year: '2025' } })
      await add('c', { cid: cids[2], name: 'taxes.pdf', meta: { app: 'docs' } })
      await add('d', { cid: cids[3], name: 'Photos of cats' })
      // one failed request (nothing serves it)
      const missing = CID.create(1, 0x55, (await importBytes(randomBytes(64), new MemoryBlockstore())).cid.multihash).toString()
      const failed = await add('failed', { cid: missing, name: 'lost' })
      await waitFor(failed.requestid, ['failed'], dave.token)
    })

    const dl = async (query: string) => {
      const r = await list(query, dave.token)
      assert.equal(r.status, 200, JSON.stringify(r.body))
      return r.body
    }
    const idsOf = (r: PinResults) => r.results.map((s) => Object.keys(ids).find((k) => ids[k] === s.requestid))

    it('no filter: pinned only, newest first, at most 10', async () => {
      const r = await dl('')
      assert.equal(r.count, 4)
      assert.deepEqual(idsOf(r), ['d', 'c', 'b', 'a'])
      for (const s of r.results) assertPinStatus(s)
    })

    it('status CSV (default pinned); an unknown status is a 400', async () => {
      assert.deepEqual(idsOf(await dl('status=failed')), ['failed'])
      assert.deepEqual(idsOf(await dl('status=pinned,failed')), ['failed', 'd', 'c', 'b', 'a'])
      assert.equal((await dl('status=queued,pinning')).count, 0)
      assertFailure(await list('status=pinned,done', dave.token), 400, 'BAD_REQUEST')
      assertFailure(await list('status=', dave.token), 400, 'BAD_REQUEST')
    })

    it('cid CSV (≤ 10), v0/v1 forms alike; invalid or too many is a 400', async () => {
      assert.deepEqual(idsOf(await dl(`cid=${cids[0]},${cids[2]}`)), ['c', 'a'])
      const v1 = CID.parse(cids[1] as string).toV1().toString()
      assert.notEqual(v1, cids[1])
      assert.deepEqual(idsOf(await dl(`cid=${v1}`)), ['b'])
      assertFailure(await list(`cid=${cids[0]},nonsense`, dave.token), 400, 'BAD_REQUEST')
      const eleven = Array.from({ length: 11 }, () => cids[0]).join(',')
      assertFailure(await list(`cid=${eleven}`, dave.token), 400, 'BAD_REQUEST')
      assert.equal((await dl(`cid=${Array.from({ length: 10 }, () => cids[0]).join(',')}`)).count, 1)
    })

    it('name with each match mode (default exact); an unknown mode is a 400', async () => {
      assert.deepEqual(idsOf(await dl('name=Holiday%20Photos')), ['a'])
      assert.deepEqual(idsOf(await dl('name=Holiday%20Photos&match=exact')), ['a'])
      assert.deepEqual(idsOf(await dl('name=HOLIDAY%20photos&match=iexact')), ['b', 'a'])
      assert.deepEqual(idsOf(await dl('name=Photos&match=partial')), ['d', 'a'])
      assert.deepEqual(idsOf(await dl('name=photos&match=ipartial')), ['d', 'b', 'a'])
      assert.deepEqual(idsOf(await dl('name=Photo&match=exact')), [])
      assertFailure(await list('name=x&match=fuzzy', dave.token), 400, 'BAD_REQUEST')
      assertFailure(await list(`name=${'n'.repeat(256)}`, dave.token), 400, 'BAD_REQUEST')
    })

    it('meta: JSON object, every pair must match; anything else is a 400', async () => {
      const q = (meta: unknown) => `meta=${encodeURIComponent(JSON.stringify(meta))}`
      assert.deepEqual(idsOf(await dl(q({ app: 'gallery' }))), ['b', 'a'])
      assert.deepEqual(idsOf(await dl(q({ app: 'gallery', year: '2024' }))), ['a'])
      assert.deepEqual(idsOf(await dl(q({ app: 'gallery', year: '2023' }))), [])
      assert.deepEqual(idsOf(await dl(q({}))), ['d', 'c', 'b', 'a'])
      for (const bad of ['meta=%7Bnot-json', q(['app']), q({ year: 2024 }), q('app')]) assertFailure(await list(bad, dave.token), 400, 'BAD_REQUEST')
    })

    it('before / after are exclusive RFC 3339 bounds; invalid ones are a 400', async () => {
      const all = await dl('limit=1000')
      const created = Object.fromEntries(all.results.map((s) => [Object.keys(ids).find((k) => ids[k] === s.requestid), s.created]))
      assert.deepEqual(idsOf(await dl(`before=${created.c}`)), ['b', 'a'])
      assert.deepEqual(idsOf(await dl(`after=${created.b}`)), ['d', 'c'])
      assert.deepEqual(idsOf(await dl(`after=${created.a}&before=${created.d}`)), ['c', 'b'])
      // other offsets and precisions name the same instants
      const d = new Date(created.c as string)
      const plusTwo = new Date(d.getTime() + 2 * 3600_000).toISOString().replace('Z', '+02:00')
      assert.deepEqual(idsOf(await dl(`before=${encodeURIComponent(plusTwo)}`)), ['b', 'a'])
      const finer = (created.c as string).replace('Z', '0001Z')
      assert.deepEqual(idsOf(await dl(`before=${finer}`)), ['c', 'b', 'a'], 'c is created before c + 0.1 µs')
      for (const bad of ['before=yesterday', 'after=2024-13-01T00:00:00Z', 'before=2024-01-01', 'after=1700000000000'])
        assertFailure(await list(bad, dave.token), 400, 'BAD_REQUEST')
    })

    it('limit 1–1000 (default 10); count is every match, not the page', async () => {
      const one = await dl('limit=1')
      assert.equal(one.results.length, 1)
      assert.equal(one.count, 4)
      for (const bad of ['limit=0', 'limit=1001', 'limit=-1', 'limit=abc', 'limit=1.5', 'limit='])
        assertFailure(await list(bad, dave.token), 400, 'BAD_REQUEST')
      assert.equal((await dl('limit=1000')).results.length, 4)
    })
  })

  describe('paging', () => {
    it('pages through more than 1,000 pins with before = the oldest created seen: each exactly once, newest first', async () => {
      const { registry } = coordinator.running.components
      const erin = await createTestAccount(coordinator, 'erin@example.com')
      const cid = await originContent()
      const total = 1_234
      // seed through the registry (one CID, many requests), then a few through the API
      const seeded = new Set<string>()
      for (let i = 0; i < total - 10; i++) seeded.add((await registry.pinRequests.create(erin.id, { cid, name: `p${i}` })).requestid)
      await registry.pinRequests.setStatusByCid(cid, ['queued'], 'pinned')
      for (let i = 0; i < 10; i++) {
        const r = await call('POST', '/pins', { token: erin.token, body: { cid, name: `api${i}` } })
        assert.equal(r.body.status, 'pinned')
        seeded.add(r.body.requestid)
      }
      for (const pageSize of [1000, 97]) {
        const seen: PinStatus[] = []
        let before: string | undefined
        for (;;) {
          const r = await list(`limit=${pageSize}${before ? `&before=${before}` : ''}`, erin.token)
          assert.equal(r.status, 200)
          assert.equal(r.body.count, total - seen.length, 'count: every match older than the cursor')
          if (r.body.results.length === 0) break
          seen.push(...r.body.results)
          before = r.body.results[r.body.results.length - 1]?.created
        }
        assert.equal(seen.length, total)
        assert.deepEqual(new Set(seen.map((s) => s.requestid)), seeded, 'every request exactly once')
        for (let i = 1; i < seen.length; i++) assert.ok((seen[i - 1]?.created ?? '') > (seen[i]?.created ?? ''), 'strictly newest first')
        assert.equal(seen[0]?.pin.name, 'api9')
      }
      assert.equal((await list('limit=1000', bob.token)).body.results.filter((r) => r.pin.cid === cid).length, 0)
    })
  })
})

describe('pinning service helpers', () => {
  it('maps HTTP multiaddrs to gateway URLs and ignores the rest', () => {
    assert.equal(multiaddrToGatewayUrl('/ip4/127.0.0.1/tcp/8080/http'), 'http://127.0.0.1:8080')
    assert.equal(multiaddrToGatewayUrl('/dns4/example.com/tcp/443/https'), 'https://example.com')
    assert.equal(multiaddrToGatewayUrl('/dns/example.com/tcp/443/tls/http'), 'https://example.com')
    assert.equal(multiaddrToGatewayUrl('/dns6/example.com/tcp/8443/tls/sni/example.com/http'), 'https://example.com:8443')
    assert.equal(multiaddrToGatewayUrl('/ip6/::1/tcp/80/http'), 'http://[::1]')
    assert.equal(multiaddrToGatewayUrl('/ip4/1.2.3.4/tcp/80/http/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'), 'http://1.2.3.4')
    assert.equal(multiaddrToGatewayUrl('/dns4/gw.example/tcp/443/https/http-path/ipfs-gw'), 'https://gw.example/ipfs-gw')
    for (const other of [
      '/ip4/1.2.3.4/tcp/4001',
      '/ip4/1.2.3.4/udp/4001/quic-v1',
      '/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN',
      '/dnsaddr/bootstrap.libp2p.io',
      '/ip4/1.2.3.4/tcp/99999/http',
      '/ip4/not-an-ip/tcp/80/http',
      '/dns4/a b/tcp/80/http',
      'http://1.2.3.4',
    ])
      assert.equal(multiaddrToGatewayUrl(other), undefined, other)
  })

  it('maps gateway URLs to delegate multiaddrs', () => {
    assert.equal(gatewayUrlToMultiaddr('http://127.0.0.1:8080'), '/ip4/127.0.0.1/tcp/8080/http')
    assert.equal(gatewayUrlToMultiaddr('https://pin.example.com/'), '/dns/pin.example.com/tcp/443/https')
    assert.equal(gatewayUrlToMultiaddr('http://[::1]:9000'), '/ip6/::1/tcp/9000/http')
    assert.equal(gatewayUrlToMultiaddr('ftp://x'), undefined)
    for (const url of ['http://127.0.0.1:8080', 'https://pin.example.com', 'http://[::1]:9000'])
      assert.equal(multiaddrToGatewayUrl(gatewayUrlToMultiaddr(url) as string), url)
  })

  it('parses RFC 3339 with offsets and sub-ms fractions', () => {
    assert.equal(parseRfc3339('2020-07-27T17:32:28Z', 'x', 'floor'), Date.UTC(2020, 6, 27, 17, 32, 28))
    assert.equal(parseRfc3339('2020-07-27T19:32:28.5+02:00', 'x', 'floor'), Date.UTC(2020, 6, 27, 17, 32, 28, 500))
    assert.equal(parseRfc3339('2020-07-27T17:32:28.123456Z', 'x', 'ceil'), Date.UTC(2020, 6, 27, 17, 32, 28, 124))
    assert.equal(parseRfc3339('2020-07-27T17:32:28.123000Z', 'x', 'ceil'), Date.UTC(2020, 6, 27, 17, 32, 28, 123))
    assert.equal(parseRfc3339('2020-07-27t17:32:28.123456z', 'x', 'floor'), Date.UTC(2020, 6, 27, 17, 32, 28, 123))
    assert.throws(() => parseRfc3339('2020-07-27 17:32:28Z', 'x', 'floor'))
  })
})
