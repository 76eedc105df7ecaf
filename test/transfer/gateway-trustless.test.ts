import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import {
  BIG_SIZE,
  bodyBytes,
  CHUNK,
  equalBytes,
  type GatewayFixture,
  gatewayFixture,
  patternBytes,
  readVerifiedCar,
  shardFileName,
} from './gateway-fixture.ts'

const CAR_TYPE = 'application/vnd.ipld.car; version=1; order=dfs; dups=n'

async function missingCid(): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode('never stored')))
}

describe('trustless gateway', () => {
  let fx: GatewayFixture
  before(async () => {
    fx = await gatewayFixture()
  })

  it('serves a raw block with trustless headers', async () => {
    const cid = fx.cid('fixture/hello.txt')
    const res = await fx.get(`/ipfs/${cid}?format=raw`)
    assert.equal(res.status, 200)
    assert.ok(equalBytes(await bodyBytes(res), await fx.store.get(cid)))
    assert.equal(res.headers.get('content-type'), 'application/vnd.ipld.raw')
    assert.equal(res.headers.get('etag'), `"${cid}.raw"`)
    assert.equal(res.headers.get('cache-control'), 'public, max-age=29030400, immutable')
    assert.equal(res.headers.get('content-disposition'), `attachment; filename="${cid}.bin"`)
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
    assert.equal(res.headers.get('content-length'), '12')
    assert.equal(res.headers.get('x-ipfs-roots'), cid.toString())
    assert.equal(res.headers.get('x-ipfs-path'), `/ipfs/${cid}`)
    assert.equal(res.headers.get('vary'), 'Accept')
  })

  it('streams a multi-block file as a verifiable CAR', async () => {
    const cid = fx.cid('fixture/big.bin')
    const res = await fx.get(`/ipfs/${cid}?format=car`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), CAR_TYPE)
    assert.equal(res.headers.get('content-disposition'), `attachment; filename="${cid}.car"`)
    assert.match(res.headers.get('etag') ?? '', new RegExp(`^"${cid}\\.car\\.[0-9a-f]+"$`))
    const car = await readVerifiedCar(await bodyBytes(res))
    assert.deepEqual(car.roots.map(String), [cid.toString()])
    assert.equal(car.blocks.length, 1 + BIG_SIZE / CHUNK)
    assert.equal(car.blocks[0]?.cid.toString(), cid.toString())
    const content = car.blocks.slice(1).map((b) => b.bytes)
    assert.ok(equalBytes(Buffer.concat(content), patternBytes(BIG_SIZE)))
  })

  it('dag-scope=block returns one block', async () => {
    const cid = fx.cid('fixture')
    const car = await readVerifiedCar(await bodyBytes(await fx.get(`/ipfs/${cid}?format=car&dag-scope=block`)))
    assert.deepEqual(car.blocks.map((b) => b.cid.toString()), [cid.toString()])
  })

  it('dag-scope=entity on a directory returns the directory block, not its children', async () => {
    const cid = fx.cid('fixture')
    const car = await readVerifiedCar(await bodyBytes(await fx.get(`/ipfs/${cid}?format=car&dag-scope=entity`)))
    assert.deepEqual(car.blocks.map((b) => b.cid.toString()), [cid.toString()])
  })

  it('dag-scope=entity on a HAMT directory returns every shard block and no entry', async () => {
    const cid = fx.cid('shard')
    const car = await readVerifiedCar(await bodyBytes(await fx.get(`/ipfs/${cid}?format=car&dag-scope=entity`)))
    assert.ok(car.blocks.length > 1, 'sharded directory has several shard blocks')
    for (const block of car.blocks) {
      const node = dagPb.decode(block.bytes)
      assert.equal(UnixFS.unmarshal(node.Data ?? new Uint8Array()).type, 'hamt-sharded-directory')
    }
  })

  it('entity-bytes returns only the leaves covering the range', async () => {
    const cid = fx.cid('fixture/big.bin')
    const original = patternBytes(BIG_SIZE)
    const res = await fx.get(`/ipfs/${cid}?format=car&entity-bytes=2100:3000`)
    assert.equal(res.status, 200)
    const car = await readVerifiedCar(await bodyBytes(res))
    assert.equal(car.blocks.length, 2, 'root + one 1 KiB leaf')
    assert.ok(equalBytes(car.blocks[1]?.bytes ?? new Uint8Array(), original.subarray(2048, 3072)))

    const tail = await readVerifiedCar(await bodyBytes(await fx.get(`/ipfs/${cid}?format=car&entity-bytes=-1500:*`)))
    assert.equal(tail.blocks.length, 3, 'root + the last two leaves')
    assert.ok(equalBytes(Buffer.concat(tail.blocks.slice(1).map((b) => b.bytes)), original.subarray(BIG_SIZE - 2048)))
  })

  it('entity-bytes past the end is a 400; a malformed value is a 400', async () => {
    const cid = fx.cid('fixture/big.bin')
    assert.equal((await fx.get(`/ipfs/${cid}?format=car&entity-bytes=${BIG_SIZE}:*`)).status, 400)
    assert.equal((await fx.get(`/ipfs/${cid}?format=car&entity-bytes=5:2`)).status, 400)
    assert.equal((await fx.get(`/ipfs/${cid}?format=car&entity-bytes=abc`)).status, 400)
  })

  it('a CAR for a path carries the path blocks, then the terminal DAG', async () => {
    const root = fx.cid('fixture')
    const res = await fx.get(`/ipfs/${root}/sub/file.txt?format=car`)
    assert.equal(res.status, 200)
    const expected = [root, fx.cid('fixture/sub'), fx.cid('fixture/sub/file.txt')].map(String)
    assert.equal(res.headers.get('x-ipfs-roots'), expected.join(','))
    const car = await readVerifiedCar(await bodyBytes(res))
    assert.deepEqual(car.roots.map(String), [fx.cid('fixture/sub/file.txt').toString()])
    assert.deepEqual(car.blocks.map((b) => b.cid.toString()), expected)
  })

  it('resolves a path through a HAMT-sharded directory', async () => {
    const shard = fx.cid('shard')
    const name = shardFileName(2999)
    const file = await fx.get(`/ipfs/${shard}/${name}`)
    assert.equal(file.status, 200)
    assert.equal(await file.text(), 'file 2999')
    const car = await readVerifiedCar(await bodyBytes(await fx.get(`/ipfs/${shard}/${name}?format=car`)))
    assert.equal(car.blocks[0]?.cid.toString(), shard.toString())
    assert.equal(car.blocks.at(-1)?.cid.toString(), fx.cid(`shard/${name}`).toString())
    assert.ok(car.blocks.length >= 3, 'root shard, at least one sub-shard, the file')
    assert.equal((await fx.get(`/ipfs/${shard}/no-such-file`)).status, 404)
  })

  it('answers 404 with a JSON code for a missing root', async () => {
    const cid = await missingCid()
    for (const query of ['?format=raw', '?format=car', '']) {
      const res = await fx.get(`/ipfs/${cid}${query}`)
      assert.equal(res.status, 404, query)
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ERR_BLOCK_NOT_FOUND')
    }
    assert.equal((await fx.get(`/ipfs/${fx.cid('fixture')}/nope.txt`)).status, 404)
  })

  it('answers 400 for a bad CID, encoded separators, unsupported formats and CAR variants', async () => {
    const root = fx.cid('fixture')
    const bad = await fx.get('/ipfs/not-a-cid')
    assert.equal(bad.status, 400)
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'ERR_INVALID_CID')
    assert.equal((await fx.get(`/ipfs/${root}/%2E%2E%2Fsecret`)).status, 400)
    assert.equal((await fx.get(`/ipfs/${root}/a%5Cb`)).status, 400)
    assert.equal((await fx.get(`/ipfs/${root}/..`)).status, 400, 'URL-folded `..` leaves an invalid CID')
    assert.equal((await fx.get(`/ipfs/${root}?format=tar`)).status, 400)
    assert.equal((await fx.get(`/ipfs/${root}?format=car&car-version=2`)).status, 400)
    assert.equal((await fx.get(`/ipfs/${root}?format=car&car-order=weird`)).status, 400)
    assert.equal((await fx.get(`/ipfs/${root}?format=car&dag-scope=nope`)).status, 400)
  })

  it('answers the bafkqaaa probe', async () => {
    const plain = await fx.get('/ipfs/bafkqaaa')
    assert.equal(plain.status, 200)
    assert.equal((await bodyBytes(plain)).byteLength, 0)
    const rawRes = await fx.get('/ipfs/bafkqaaa?format=raw')
    assert.equal(rawRes.status, 200)
    assert.equal((await bodyBytes(rawRes)).byteLength, 0)
    const car = await readVerifiedCar(await bodyBytes(await fx.get('/ipfs/bafkqaaa?format=car')))
    assert.deepEqual(car.roots.map(String), ['bafkqaaa'])
    assert.equal(car.blocks.length, 0)
    assert.equal((await fx.get('/ipfs/bafkqaaa', { method: 'HEAD' })).status, 200)
  })

  it('HEAD has the GET headers and no body', async () => {
    const cid = fx.cid('fixture/big.bin')
    for (const query of ['?format=raw', '?format=car', '']) {
      const get = await fx.get(`/ipfs/${cid}${query}`)
      const head = await fx.get(`/ipfs/${cid}${query}`, { method: 'HEAD' })
      assert.equal(head.status, 200)
      assert.equal(head.body, null)
      for (const name of ['content-type', 'etag', 'content-length', 'cache-control', 'content-disposition']) {
        assert.equal(head.headers.get(name), get.headers.get(name), `${query} ${name}`)
      }
      await get.body?.cancel()
    }
    assert.equal((await fx.get(`/ipfs/${await missingCid()}?format=car`, { method: 'HEAD' })).status, 404)
  })

  it('If-None-Match with the ETag answers 304 without a body', async () => {
    const cid = fx.cid('fixture/big.bin')
    for (const query of ['?format=raw', '?format=car&dag-scope=entity', '']) {
      const first = await fx.get(`/ipfs/${cid}${query}`)
      const etag = first.headers.get('etag') ?? ''
      await first.body?.cancel()
      const again = await fx.get(`/ipfs/${cid}${query}`, { headers: { 'If-None-Match': `W/${etag}, "other"` } })
      assert.equal(again.status, 304, query)
      assert.equal(again.body, null)
      assert.equal(again.headers.get('etag'), etag)
    }
    const other = await fx.get(`/ipfs/${cid}?format=car&dag-scope=block`, { headers: { 'If-None-Match': '"nope"' } })
    assert.equal(other.status, 200)
    await other.body?.cancel()
  })

  it('negotiates the format from Accept, with ?format taking precedence', async () => {
    const cid = fx.cid('fixture/hello.txt')
    const rawRes = await fx.get(`/ipfs/${cid}`, { headers: { Accept: 'text/html, application/vnd.ipld.raw;q=0.9' } })
    assert.equal(rawRes.headers.get('content-type'), 'application/vnd.ipld.raw')
    assert.equal(rawRes.headers.get('content-location'), `/ipfs/${cid}?format=raw`)
    await rawRes.body?.cancel()

    const carRes = await fx.get(`/ipfs/${cid}?format=car`, { headers: { Accept: 'application/vnd.ipld.raw' } })
    assert.equal(carRes.headers.get('content-type'), CAR_TYPE)
    assert.equal(carRes.headers.get('content-location'), null)
    await carRes.body?.cancel()

    const dups = await fx.get(`/ipfs/${cid}`, { headers: { Accept: 'application/vnd.ipld.car; version=1; order=dfs; dups=y' } })
    assert.equal(dups.headers.get('content-type'), 'application/vnd.ipld.car; version=1; order=dfs; dups=y')
    await dups.body?.cancel()

    const fallback = await fx.get(`/ipfs/${cid}`, {
      headers: { Accept: 'application/vnd.ipld.car;order=foo, application/vnd.ipld.car;order=dfs;q=0.5' },
    })
    assert.equal(fallback.headers.get('content-type'), CAR_TYPE)
    await fallback.body?.cancel()

    const refused = await fx.get(`/ipfs/${cid}`, { headers: { Accept: 'application/vnd.ipld.car; version=2' } })
    assert.equal(refused.status, 400)

    const plain = await fx.get(`/ipfs/${cid}`, { headers: { Accept: '*/*' } })
    assert.equal(await plain.text(), 'hello world\n')
  })

  it('handles other methods and paths', async () => {
    const post = await fx.get(`/ipfs/${fx.cid('fixture')}`, { method: 'POST' })
    assert.equal(post.status, 405)
    assert.equal(post.headers.get('allow'), 'GET, HEAD, OPTIONS')
    const other = await fx.get('/ipns/example.com')
    assert.equal(other.status, 404)
    assert.equal(((await other.json()) as { error: { code: string } }).error.code, 'ERR_NOT_FOUND')
  })
})
