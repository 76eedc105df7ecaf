import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { fallbackRouter } from '@helia/fallback-router'
import { trustlessGatewayBlockBroker } from '@helia/trustless-gateway-client'
import { createVerifiedFetch, type VerifiedFetch } from '@helia/verified-fetch'
import { createHeliaLight, type Helia } from 'helia'
import { create } from 'kubo-rpc-client'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'

type ErrorBody = { error: { code: string; message: string } }

/**
 * Interop with `@helia/verified-fetch` (v8), pointed at the Pinfold gateway ONLY: a light
 * Helia node with the trustless-gateway block broker and one fallback router naming the
 * coordinator — no libp2p, no delegated routing, no public gateways, so nothing leaves
 * the machine. verified-fetch checks every block against its CID. The coordinator runs
 * with `gateway.access = public`, which must really serve anyone (no token at all).
 * Then the spec's edge cases over the real server (not the in-process handler).
 */
describe('gateway interop: @helia/verified-fetch and spec edge cases (real server, public access)', () => {
  let coordinator: CoordinatorProcess
  let helia: Helia
  let verifiedFetch: VerifiedFetch
  const fileBytes = randomBytes(3 * 1024 * 1024 + 123) // several leaves and a two-level DAG
  let fileCid: string
  let dirCid: string

  before(async () => {
    coordinator = await startCoordinatorProcess({ env: { PINFOLD_GATEWAY_ACCESS: 'public' } })
    const ipfs = create({ url: `${coordinator.url}/api/v0`, headers: { authorization: `Bearer ${await coordinator.token()}` } })
    fileCid = (await ipfs.add(fileBytes, { cidVersion: 1 })).cid.toString()
    for await (const entry of ipfs.addAll(
      [
        { path: 'site/hello.txt', content: new TextEncoder().encode('hello from pinfold\n') },
        { path: 'site/docs/a.json', content: new TextEncoder().encode('{"a":1}') },
      ],
      { cidVersion: 1 },
    )) {
      if (entry.path === 'site') dirCid = entry.cid.toString()
    }
    helia = createHeliaLight()
    // helia 7 waits forever when it has fallback routers only (an empty merge never goes
    // idle), so one non-fallback router that finds nothing goes first
    helia.addRouter({ name: 'no-routing', async *findProviders() {} })
    helia.addRouter(fallbackRouter({ gateways: [coordinator.url] }))
    helia.addBlockBroker(trustlessGatewayBlockBroker({ allowInsecure: true, allowLocal: true }))
    await helia.start()
    verifiedFetch = await createVerifiedFetch(helia)
  })

  after(async () => {
    await verifiedFetch?.stop()
    await helia?.stop()
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  it('public access serves anyone: no Authorization header needed', async () => {
    const response = await fetch(`${coordinator.url}/ipfs/${fileCid}?format=raw`)
    assert.equal(response.status, 200)
    await response.arrayBuffer()
  })

  it('verified-fetch fetches and verifies a multi-block file', async () => {
    const response = await verifiedFetch(`ipfs://${fileCid}`)
    assert.equal(response.status, 200)
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), fileBytes)
  })

  it('verified-fetch resolves a directory and files inside it by path', async () => {
    const hello = await verifiedFetch(`ipfs://${dirCid}/hello.txt`)
    assert.equal(hello.status, 200)
    assert.equal(await hello.text(), 'hello from pinfold\n')
    const nested = await verifiedFetch(`ipfs://${dirCid}/docs/a.json`)
    assert.equal(nested.status, 200)
    assert.deepEqual(JSON.parse(await nested.text()), { a: 1 })
    // the directory itself, as a verifiable CAR (every block re-hashed by verified-fetch)
    const car = await verifiedFetch(`ipfs://${dirCid}`, { headers: { accept: 'application/vnd.ipld.car' } })
    assert.equal(car.status, 200)
    assert.match(car.headers.get('content-type') ?? '', /application\/vnd\.ipld\.car/)
    const bytes = Buffer.from(await car.arrayBuffer())
    assert.ok(bytes.includes(Buffer.from('hello from pinfold\n')))
  })

  it('answers the bafkqaaa probe over the real server', async () => {
    const response = await fetch(`${coordinator.url}/ipfs/bafkqaaa?format=raw`)
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('content-type'), 'application/vnd.ipld.raw')
    assert.equal((await response.arrayBuffer()).byteLength, 0)
    const head = await fetch(`${coordinator.url}/ipfs/bafkqaaa`, { method: 'HEAD' })
    assert.equal(head.status, 200)
  })

  it('HEAD carries the GET headers and no body', async () => {
    const url = `${coordinator.url}/ipfs/${fileCid}`
    const [get, head] = await Promise.all([fetch(url), fetch(url, { method: 'HEAD' })])
    assert.equal(head.status, 200)
    for (const name of ['content-type', 'content-length', 'etag', 'cache-control', 'x-ipfs-path']) {
      assert.equal(head.headers.get(name), get.headers.get(name), name)
    }
    assert.equal(Number(head.headers.get('content-length')), fileBytes.length)
    assert.equal((await head.arrayBuffer()).byteLength, 0)
    await get.arrayBuffer()
  })

  it('answers 404 for a root the gateway does not hold', async () => {
    const missing = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
    for (const query of ['', '?format=raw', '?format=car']) {
      const response = await fetch(`${coordinator.url}/ipfs/${missing}${query}`)
      assert.equal(response.status, 404, query)
      assert.equal(((await response.json()) as ErrorBody).error.code, 'ERR_BLOCK_NOT_FOUND')
    }
    assert.equal((await fetch(`${coordinator.url}/ipfs/${missing}`, { method: 'HEAD' })).status, 404)
  })

  it('?format wins over Accept; Accept alone negotiates (with Content-Location)', async () => {
    const url = `${coordinator.url}/ipfs/${fileCid}`
    const raw = await fetch(`${url}?format=raw`, { headers: { accept: 'application/vnd.ipld.car' } })
    assert.equal(raw.headers.get('content-type'), 'application/vnd.ipld.raw')
    await raw.arrayBuffer()
    const car = await fetch(`${url}?format=car`, { headers: { accept: 'application/vnd.ipld.raw' } })
    assert.match(car.headers.get('content-type') ?? '', /^application\/vnd\.ipld\.car/)
    await car.arrayBuffer()
    const negotiated = await fetch(url, { headers: { accept: 'application/vnd.ipld.raw' } })
    assert.equal(negotiated.headers.get('content-type'), 'application/vnd.ipld.raw')
    assert.match(negotiated.headers.get('vary') ?? '', /accept/i)
    assert.ok(negotiated.headers.get('content-location')?.includes('format=raw'))
    await negotiated.arrayBuffer()
  })

  it('immutable Cache-Control and a CID ETag, honoured by If-None-Match', async () => {
    const url = `${coordinator.url}/ipfs/${fileCid}`
    const response = await fetch(url)
    const cacheControl = response.headers.get('cache-control') ?? ''
    assert.match(cacheControl, /immutable/)
    assert.match(cacheControl, /max-age=\d{7,}/)
    const etag = response.headers.get('etag') ?? ''
    assert.equal(etag, `"${fileCid}"`)
    await response.arrayBuffer()
    const raw = await fetch(`${url}?format=raw`)
    assert.equal(raw.headers.get('etag'), `"${fileCid}.raw"`)
    assert.match(raw.headers.get('cache-control') ?? '', /immutable/)
    await raw.arrayBuffer()
    const again = await fetch(url, { headers: { 'if-none-match': etag } })
    assert.equal(again.status, 304)
  })

  it('Content-Disposition follows ?filename= and ?download=true', async () => {
    const url = `${coordinator.url}/ipfs/${dirCid}/hello.txt`
    const plain = await fetch(url)
    assert.equal(plain.headers.get('content-disposition'), null)
    assert.match(plain.headers.get('content-type') ?? '', /^text\/plain/)
    await plain.arrayBuffer()
    const named = await fetch(`${url}?filename=greeting.txt`)
    assert.equal(named.headers.get('content-disposition'), 'inline; filename="greeting.txt"')
    await named.arrayBuffer()
    const download = await fetch(`${url}?filename=${encodeURIComponent('grüße.txt')}&download=true`)
    assert.equal(download.headers.get('content-disposition'), `attachment; filename="gr__e.txt"; filename*=UTF-8''gr%C3%BC%C3%9Fe.txt`)
    await download.arrayBuffer()
    const car = await fetch(`${coordinator.url}/ipfs/${fileCid}?format=car&filename=backup.car`)
    assert.equal(car.headers.get('content-disposition'), 'attachment; filename="backup.car"')
    await car.arrayBuffer()
  })
})

describe('gateway interop: @helia/verified-fetch against a token-mode gateway', () => {
  it('fetches with the Authorization header added to its trustless requests, and fails without it', async () => {
    const coordinator = await startCoordinatorProcess()
    const nodes: Helia[] = []
    try {
      const token = await coordinator.token()
      const bytes = randomBytes(700_000)
      const ipfs = create({ url: `${coordinator.url}/api/v0`, headers: { authorization: `Bearer ${token}` } })
      const cid = (await ipfs.add(bytes, { cidVersion: 1 })).cid.toString()
      const fetchWith = async (authorization?: string) => {
        const helia = createHeliaLight()
        nodes.push(helia)
        helia.addRouter({ name: 'no-routing', async *findProviders() {} })
        helia.addRouter(fallbackRouter({ gateways: [coordinator.url] }))
        helia.addBlockBroker(
          trustlessGatewayBlockBroker({
            allowInsecure: true,
            allowLocal: true,
            transformRequestInit: (init) =>
              authorization === undefined ? init : { ...init, headers: { ...(init.headers as Record<string, string>), authorization } },
          }),
        )
        await helia.start()
        const verified = await createVerifiedFetch(helia)
        return verified(`ipfs://${cid}`, { signal: AbortSignal.timeout(5000) })
      }
      const ok = await fetchWith(`Bearer ${token}`)
      assert.equal(ok.status, 200)
      assert.deepEqual(Buffer.from(await ok.arrayBuffer()), bytes)
      const refused = await fetchWith().then(
        (response) => response.status,
        () => 'error',
      )
      assert.notEqual(refused, 200)
    } finally {
      for (const helia of nodes) await helia.stop()
      await coordinator.stop()
      await coordinator.cleanup()
    }
  })
})
