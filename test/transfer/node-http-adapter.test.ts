import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { after, before, describe, it } from 'node:test'
import type { CID } from 'multiformats/cid'
import { BlockNotFoundError, type BlockSource } from '../../src/core/index.ts'
import { createGatewayHandler, type ServedHandler, serveHandler } from '../../src/transfer/index.ts'
import { BIG_SIZE, bodyBytes, equalBytes, type GatewayFixture, gatewayFixture, patternBytes, readVerifiedCar } from './gateway-fixture.ts'

/** A source that has lost one block (a leaf in the middle of big.bin). */
function withoutBlock(source: BlockSource, lost: CID): BlockSource {
  return {
    get: async (cid, options) => {
      if (cid.equals(lost)) throw new BlockNotFoundError(cid)
      return source.get(cid, options)
    },
    has: async (cid, options) => !cid.equals(lost) && source.has(cid, options),
  }
}

/** Raw HTTP GET that reports whether the response ended cleanly or was cut. */
function rawGet(url: string): Promise<{ status: number; bytes: number; aborted: boolean }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, (res) => {
      let bytes = 0
      let settled = false
      const done = (aborted: boolean) => {
        if (settled) return
        settled = true
        resolve({ status: res.statusCode ?? 0, bytes, aborted })
      }
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.byteLength
      })
      res.on('end', () => done(!res.complete))
      res.on('aborted', () => done(true))
      res.on('error', () => done(true))
      res.on('close', () => done(!res.complete))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('gateway over a real node:http server', () => {
  let fx: GatewayFixture
  let server: ServedHandler
  let broken: ServedHandler
  let lostLeaf: CID

  before(async () => {
    fx = await gatewayFixture()
    server = await serveHandler(fx.handler, { host: '127.0.0.1', port: 0 })
    const car = await readVerifiedCar(await bodyBytes(await fx.get(`/ipfs/${fx.cid('fixture/big.bin')}?format=car`)))
    lostLeaf = car.blocks[5]?.cid as CID
    broken = await serveHandler(createGatewayHandler({ source: withoutBlock(fx.store, lostLeaf) }))
  })
  after(async () => {
    await server.close()
    await broken.close()
  })

  it('listens on 127.0.0.1 with an ephemeral port', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:[0-9]+$/)
  })

  it('serves a verifiable CAR, a raw block and a file over HTTP', async () => {
    const cid = fx.cid('fixture/big.bin')
    const car = await fetch(`${server.url}/ipfs/${cid}?format=car`)
    assert.equal(car.status, 200)
    assert.equal(car.headers.get('content-type'), 'application/vnd.ipld.car; version=1; order=dfs; dups=n')
    const parsed = await readVerifiedCar(await bodyBytes(car))
    assert.equal(parsed.blocks.length, 11)

    const raw = await fetch(`${server.url}/ipfs/${fx.cid('fixture/hello.txt')}`, {
      headers: { Accept: 'application/vnd.ipld.raw' },
    })
    assert.equal(raw.headers.get('content-type'), 'application/vnd.ipld.raw')
    assert.equal(await raw.text(), 'hello world\n')

    const file = await fetch(`${server.url}/ipfs/${cid}`)
    assert.equal(file.headers.get('content-length'), String(BIG_SIZE))
    assert.ok(equalBytes(await bodyBytes(file), patternBytes(BIG_SIZE)))

    const ranged = await fetch(`${server.url}/ipfs/${cid}`, { headers: { Range: 'bytes=1024-2047' } })
    assert.equal(ranged.status, 206)
    assert.ok(equalBytes(await bodyBytes(ranged), patternBytes(BIG_SIZE).subarray(1024, 2048)))
  })

  it('answers HEAD without a body and errors as JSON', async () => {
    const head = await fetch(`${server.url}/ipfs/${fx.cid('fixture/big.bin')}?format=raw`, { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal((await head.arrayBuffer()).byteLength, 0)
    const bad = await fetch(`${server.url}/ipfs/nope`)
    assert.equal(bad.status, 400)
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'ERR_INVALID_CID')
    const probe = await fetch(`${server.url}/ipfs/bafkqaaa`)
    assert.equal(probe.status, 200)
    assert.equal((await probe.arrayBuffer()).byteLength, 0)
  })

  it('cuts the connection when a block is missing mid-stream, after a 200', async () => {
    const cid = fx.cid('fixture/big.bin')
    const car = await rawGet(`${broken.url}/ipfs/${cid}?format=car`)
    assert.equal(car.status, 200)
    assert.equal(car.aborted, true, 'the CAR stream is cut, not ended cleanly')
    const file = await rawGet(`${broken.url}/ipfs/${cid}`)
    assert.equal(file.status, 200)
    assert.equal(file.aborted, true)
    assert.ok(file.bytes < BIG_SIZE)
    // The root block itself is still there, so a raw request for it works.
    assert.equal((await fetch(`${broken.url}/ipfs/${cid}?format=raw`)).status, 200)
    assert.equal((await fetch(`${broken.url}/ipfs/${lostLeaf}?format=raw`)).status, 404)
  })
})
