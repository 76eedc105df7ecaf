import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { varint } from 'multiformats'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import {
  blockLinks,
  exportCar,
  exportToDirectory,
  importBytes,
  importCar,
  MemoryBlockstore,
  parseCid,
  parseCidPath,
  verifyBlock,
} from '../../src/core/index.ts'
import { encodeCarV1Header } from '../../src/core/car-export.ts'
import { bigFile } from './fixtures/datasets.ts'
import { collect } from './helpers.ts'

let tmp: string
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'pinfold-core-bad-'))
})
after(async () => {
  await rm(tmp, { recursive: true, force: true })
})

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes
}

async function sampleCar(): Promise<{ car: Uint8Array; root: CID }> {
  const store = new MemoryBlockstore()
  const { cid } = await importBytes(bigFile().subarray(0, 700_000), store)
  return { car: await collect(exportCar(store, cid)), root: cid }
}

describe('importCar refuses malformed input', () => {
  it('truncated at many offsets', async () => {
    const { car } = await sampleCar()
    const offsets = [0, 1, 5, 30, 58, 59, 60, 100, 1000, 262_200, car.byteLength - 1]
    for (const cut of offsets) {
      const store = new MemoryBlockstore()
      await assert.rejects(importCar(once(car.subarray(0, cut)), store), { code: 'ERR_INVALID_CAR' }, `cut at ${cut}`)
    }
  })

  it('garbage bytes', async () => {
    for (const garbage of [
      Uint8Array.from([0xff, 0xff, 0xff]),
      new TextEncoder().encode('this is not a CAR file at all'),
      Uint8Array.from([0x05, 1, 2, 3, 4, 5]),
      bigFile().subarray(0, 4096),
    ]) {
      await assert.rejects(importCar(once(garbage), new MemoryBlockstore()), { code: 'ERR_INVALID_CAR' })
    }
  })

  it('a block section without a valid CID', async () => {
    const header = encodeCarV1Header(CID.parse('bafkqaaa'))
    const bad = Buffer.concat([varintOf(header.byteLength), header, varintOf(4), Uint8Array.from([0x99, 0x99, 0x99, 0x99])])
    await assert.rejects(importCar(once(bad), new MemoryBlockstore()), { code: 'ERR_INVALID_CAR' })
  })

  it('altered block bytes → ERR_BLOCK_HASH_MISMATCH', async () => {
    const { car } = await sampleCar()
    const altered = car.slice()
    altered[altered.byteLength - 10] = (altered[altered.byteLength - 10] as number) ^ 0xff
    await assert.rejects(importCar(once(altered), new MemoryBlockstore()), { code: 'ERR_BLOCK_HASH_MISMATCH' })
  })

  it('a 4 GiB block length is refused before allocating', async () => {
    const header = encodeCarV1Header(CID.parse('bafkqaaa'))
    const huge = Buffer.concat([varintOf(header.byteLength), header, varintOf(4 * 1024 ** 3), new Uint8Array(16)])
    const started = performance.now()
    await assert.rejects(importCar(once(huge), new MemoryBlockstore()), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_INVALID_CAR')
      assert.match(err.message, /block length 4294967296 exceeds limit/)
      return true
    })
    assert.ok(performance.now() - started < 1000)
  })

  it('a huge header length and a 10-byte varint are refused', async () => {
    await assert.rejects(importCar(once(varintOf(2 ** 40)), new MemoryBlockstore()), /header length .* exceeds limit/)
    const endless = new Uint8Array(12).fill(0x80)
    await assert.rejects(importCar(once(endless), new MemoryBlockstore(), { maxHeaderBytes: 2 ** 52 }), {
      code: 'ERR_INVALID_CAR',
    })
  })

  it('limits are configurable', async () => {
    const { car } = await sampleCar()
    await assert.rejects(importCar(once(car), new MemoryBlockstore(), { maxBlockBytes: 1000 }), /block length \d+ exceeds limit/)
    await assert.rejects(importCar(once(car), new MemoryBlockstore(), { maxBlockBytes: -1 }), { code: 'ERR_INVALID_OPTION' })
  })
})

describe('blocks', () => {
  it('verifyBlock accepts good bytes, rejects altered ones and unknown hashes', async () => {
    const bytes = new TextEncoder().encode('block')
    const cid = CID.createV1(0x55, await sha256.digest(bytes))
    await verifyBlock(cid, bytes)
    await assert.rejects(verifyBlock(cid, new TextEncoder().encode('blocK')), { code: 'ERR_BLOCK_HASH_MISMATCH' })
    await verifyBlock(CID.parse('bafkqaaa'), new Uint8Array(0))
    await assert.rejects(verifyBlock(CID.parse('bafkqaaa'), Uint8Array.of(1)), { code: 'ERR_BLOCK_HASH_MISMATCH' })
    // sha2-512 multihash (0x13): not supported
    const sha512 = CID.parse('bafkrgqg5v422de2ft5ec4wyofcwnqjjq5yxvntrd7k34q5fc5ezgfuc2dnfhbnrywwgxjkbaelpd2xmbg5qemquehibcddxrl44icwbvtfaau')
    await assert.rejects(verifyBlock(sha512, bytes), { code: 'ERR_UNSUPPORTED_HASH' })
  })

  it('blockLinks: dag-pb links in order; raw → []; other codecs refused', async () => {
    const a = CID.parse('QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn')
    const b = CID.parse('bafkqaaa')
    const node = dagPb.encode(dagPb.prepare({ Links: [{ Name: 'b', Hash: b }, { Name: 'a', Hash: a }] }))
    const cid = CID.createV0(await sha256.digest(node))
    assert.deepEqual(blockLinks(cid, node).map(String), [a.toString(), b.toString()])
    assert.deepEqual(blockLinks(b, new Uint8Array(0)), [])
    const cbor = CID.createV1(0x71, await sha256.digest(Uint8Array.of(0xa0)))
    assert.throws(() => blockLinks(cbor, Uint8Array.of(0xa0)), { code: 'ERR_UNSUPPORTED_CODEC' })
  })
})

describe('CID strings', () => {
  it('refuses garbage', () => {
    for (const input of ['', 'Qm', 'bafy!!', 'hello', ' QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn', 'x'.repeat(5000)]) {
      assert.throws(() => parseCid(input), { code: 'ERR_INVALID_CID', userError: true }, input.slice(0, 20))
    }
  })

  it('parses CID paths and refuses unsafe segments', () => {
    const root = 'QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn'
    assert.deepEqual(parseCidPath(root).segments, [])
    assert.deepEqual(parseCidPath(`${root}/a/b`).segments, ['a', 'b'])
    assert.deepEqual(parseCidPath(`/ipfs/${root}/a`).segments, ['a'])
    assert.equal(parseCidPath(`/ipfs/${root}/`).cid.toString(), root)
    for (const bad of [`${root}/../x`, `${root}/./x`, `${root}//x`, `${root}/a\\b`]) {
      assert.throws(() => parseCidPath(bad), { code: 'ERR_UNSAFE_PATH' }, bad)
    }
    assert.throws(() => parseCidPath('/ipfs/nope/a'), { code: 'ERR_INVALID_CID' })
  })
})

describe('exportToDirectory refuses hostile entry names (CVE-2020-26279)', () => {
  for (const hostile of ['..', 'a/b', '.', '', '/etc', 'a\\b', 'nul\0byte']) {
    it(`entry named ${JSON.stringify(hostile)}`, async () => {
      const store = new MemoryBlockstore()
      const put = async (bytes: Uint8Array) => {
        const cid = CID.createV0(await sha256.digest(bytes))
        await store.put(cid, bytes)
        return cid
      }
      const file = await put(
        dagPb.encode({ Data: new UnixFS({ type: 'file', data: new TextEncoder().encode('pwned') }).marshal(), Links: [] }),
      )
      const dirData = new UnixFS({ type: 'directory' }).marshal()
      // A benign sibling (sorted after it) must not be written either.
      const dir = await put(
        dagPb.encode({
          Data: dirData,
          Links: [
            { Name: hostile, Hash: file, Tsize: 20 },
            { Name: 'zzz-benign', Hash: file, Tsize: 20 },
          ],
        }),
      )
      const parent = join(tmp, `case-${Buffer.from(hostile).toString('hex')}`)
      const outDir = join(parent, 'out')
      await mkdir(parent, { recursive: true })
      await assert.rejects(exportToDirectory(store, dir.toString(), outDir), { code: 'ERR_UNSAFE_PATH', userError: true })
      assert.deepEqual(await readdir(parent), [], 'nothing written, not even outDir')
    })
  }

  it('a hostile name deeper in the tree writes nothing outside outDir', async () => {
    const store = new MemoryBlockstore()
    const put = async (bytes: Uint8Array) => {
      const cid = CID.createV0(await sha256.digest(bytes))
      await store.put(cid, bytes)
      return cid
    }
    const file = await put(dagPb.encode({ Data: new UnixFS({ type: 'file', data: Uint8Array.of(1) }).marshal(), Links: [] }))
    const dirData = new UnixFS({ type: 'directory' }).marshal()
    const inner = await put(dagPb.encode({ Data: dirData, Links: [{ Name: '..', Hash: file, Tsize: 10 }] }))
    const outer = await put(dagPb.encode({ Data: dirData, Links: [{ Name: 'sub', Hash: inner, Tsize: 50 }] }))
    const parent = join(tmp, 'deep-case')
    await mkdir(parent)
    await assert.rejects(exportToDirectory(store, outer.toString(), join(parent, 'out')), { code: 'ERR_UNSAFE_PATH' })
    assert.deepEqual(await readdir(parent), ['out'])
    // 'sub' is listed and refused before it is created.
    assert.deepEqual(await readdir(join(parent, 'out')), [])
  })
})

function varintOf(n: number): Uint8Array {
  const out = new Uint8Array(varint.encodingLength(n))
  varint.encodeTo(n, out, 0)
  return out
}
