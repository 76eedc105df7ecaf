import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, readFile, rm, stat as fsStat, utimes, writeFile, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CarReader } from '@ipld/car'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import {
  cat,
  exportCar,
  exportToDirectory,
  importBytes,
  importCar,
  importPaths,
  ls,
  MemoryBlockstore,
  stat,
  walkDag,
} from '../../src/core/index.ts'
import { bigFile, hamtTree, nestedTree } from './fixtures/datasets.ts'
import { assertBytes, collect, importTree, toArray } from './helpers.ts'

let tmp: string
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'pinfold-core-'))
})
after(async () => {
  await rm(tmp, { recursive: true, force: true })
})

describe('import → cat', () => {
  for (const profile of ['kubo', 'v1-2025'] as const) {
    it(`returns identical bytes, whole and ranges (${profile})`, async () => {
      const store = new MemoryBlockstore()
      const data = bigFile()
      const { cid } = await importBytes(data, store, { profile })
      assertBytes(await collect(cat(store, cid.toString())), data)
      for (const [offset, length] of [
        [0, 10],
        [262_143, 2],
        [1_048_570, 100_000],
        [data.byteLength - 5, 100],
        [data.byteLength, 10],
        [12345, 0],
      ] as const) {
        const got = await collect(cat(store, `/ipfs/${cid}`, { offset, length }))
        assertBytes(got, data.subarray(offset, offset + length), `${offset}+${length}`)
      }
      assertBytes(await collect(cat(store, cid.toString(), { offset: 5_000_000 })), data.subarray(5_000_000))
    })
  }

  it('validates offset and length', async () => {
    const store = new MemoryBlockstore()
    const { cid } = await importBytes(new TextEncoder().encode('hello world'), store)
    for (const opts of [{ offset: -1 }, { offset: 12 }, { offset: 1.5 }, { length: -1 }]) {
      await assert.rejects(collect(cat(store, cid.toString(), opts)), { code: 'ERR_INVALID_OPTION' }, JSON.stringify(opts))
    }
  })

  it('refuses to cat a directory; resolves paths inside directories', async () => {
    const store = new MemoryBlockstore()
    const entries = await importTree(nestedTree(), store)
    const root = entries.get('nested')?.cid.toString() as string
    await assert.rejects(collect(cat(store, root)), { code: 'ERR_NOT_A_FILE', userError: true })
    const expected = nestedTree().find((e) => e.path === 'nested/sub/deeper/c.txt')?.content
    assertBytes(await collect(cat(store, `${root}/sub/deeper/c.txt`)), expected)
    await assert.rejects(stat(store, `${root}/sub/missing`), { code: 'ERR_PATH_NOT_FOUND' })
  })

  it('missing blocks reject with ERR_BLOCK_NOT_FOUND', async () => {
    const { cid } = await importBytes(bigFile(), new MemoryBlockstore())
    await assert.rejects(stat(new MemoryBlockstore(), cid.toString()), { code: 'ERR_BLOCK_NOT_FOUND' })
  })

  it('identity CIDs resolve without a store lookup', async () => {
    const empty = new MemoryBlockstore()
    const entry = await stat(empty, 'bafkqaaa')
    assert.equal(entry.type, 'identity')
    assert.equal(entry.size, 0n)
    assertBytes(await collect(cat(empty, 'bafkqaaa')), new Uint8Array(0))
    const hw = CID.createV1(raw.code, identity.digest(new TextEncoder().encode('hello world')))
    assert.equal(new TextDecoder().decode(await collect(cat(empty, hw.toString()))), 'hello world')
    const car = await collect(exportCar(empty, CID.parse('bafkqaaa')))
    const result = await importCar(
      (async function* () {
        yield car
      })(),
      new MemoryBlockstore(),
    )
    assert.equal(result.roots[0]?.toString(), 'bafkqaaa')
    assert.equal(result.blocks, 0)
  })
})

describe('stat and ls', () => {
  it('describes files and directories with ipfs-add sizes', async () => {
    const store = new MemoryBlockstore()
    const entries = await importTree(nestedTree(), store)
    const root = entries.get('nested')
    assert.ok(root)
    const s = await stat(store, root.cid.toString())
    assert.equal(s.type, 'directory')
    assert.equal(s.size, root.size)
    const listing = await toArray(ls(store, root.cid.toString()))
    assert.deepEqual(
      listing.map((e) => [e.name, e.type]),
      [
        ['a.txt', 'file'],
        ['empty', 'directory'],
        ['sub', 'directory'],
      ],
    )
    assert.equal(listing[0]?.size, 6n)
    assert.equal(listing[0]?.path, `${root.cid}/a.txt`)
    await assert.rejects(collect(ls(store, `${root.cid}/a.txt`) as never), { code: 'ERR_NOT_A_DIRECTORY' })
  })

  it('lists a HAMT-sharded directory completely', async () => {
    const store = new MemoryBlockstore()
    const entries = await importTree(hamtTree(), store)
    const root = entries.get('hamt')?.cid.toString() as string
    const names = new Set<string>()
    for await (const e of ls(store, root)) names.add(e.name)
    assert.equal(names.size, 5000)
    assert.ok(names.has('file-with-a-longer-name-04999.txt'))
    const one = await collect(cat(store, `${root}/file-with-a-longer-name-01234.txt`))
    assert.equal(new TextDecoder().decode(one), 'file 1234\n')
  })
})

describe('disk → import → export → disk', () => {
  it('importPaths + exportToDirectory preserve bytes and mtimes', async () => {
    const src = join(tmp, 'src-tree')
    await mkdir(join(src, 'sub', 'deep'), { recursive: true })
    await mkdir(join(src, 'emptydir'))
    const files: Record<string, Uint8Array> = {
      'top.txt': new TextEncoder().encode('top\n'),
      'sub/big.bin': bigFile().subarray(0, 1_500_000),
      'sub/deep/x.txt': new TextEncoder().encode('x'),
    }
    const mtime = new Date('2021-03-04T05:06:07.000Z')
    for (const [rel, bytes] of Object.entries(files)) {
      await writeFile(join(src, rel), bytes)
      await utimes(join(src, rel), mtime, mtime)
    }
    await chmod(join(src, 'top.txt'), 0o600)
    await utimes(join(src, 'sub'), mtime, mtime)

    const store = new MemoryBlockstore()
    const imported = await toArray(importPaths([src], store, { preserveMtime: true, preserveMode: true }))
    const root = imported.at(-1)
    assert.equal(root?.path, 'src-tree')
    assert.deepEqual(imported.map((e) => e.path).sort(), [
      'src-tree',
      'src-tree/emptydir',
      'src-tree/sub',
      'src-tree/sub/big.bin',
      'src-tree/sub/deep',
      'src-tree/sub/deep/x.txt',
      'src-tree/top.txt',
    ])

    const out = join(tmp, 'out-tree')
    const totals = await exportToDirectory(store, root?.cid.toString() as string, out, {
      preserveMtime: true,
      preserveMode: true,
    })
    for (const [rel, bytes] of Object.entries(files)) {
      assertBytes(await readFile(join(out, rel)), bytes, rel)
      assert.equal((await fsStat(join(out, rel))).mtime.getTime(), mtime.getTime(), rel)
    }
    assert.deepEqual(totals, { files: 3, directories: 4, bytes: 4 + 1_500_000 + 1 })
    assert.equal((await fsStat(join(out, 'sub'))).mtime.getTime(), mtime.getTime())
    assert.equal((await fsStat(join(out, 'top.txt'))).mode & 0o777, 0o600)
    assert.deepEqual(await readdir(join(out, 'emptydir')), [])
  })

  it('a file root is written as outDir/<cid>', async () => {
    const store = new MemoryBlockstore()
    const { cid } = await importBytes(new TextEncoder().encode('single'), store)
    const out = join(tmp, 'single-out')
    await exportToDirectory(store, cid.toString(), out)
    assert.equal(await readFile(join(out, cid.toString()), 'utf8'), 'single')
  })

  it('an unreadable path is a user error', async () => {
    const run = () => toArray(importPaths([join(tmp, 'does-not-exist')], new MemoryBlockstore()))
    await assert.rejects(run, { code: 'ERR_FILE_UNREADABLE', userError: true })
  })
})

describe('CAR round trip', () => {
  it('exportCar → importCar into a fresh store gives the same bytes', async () => {
    const source = new MemoryBlockstore()
    const entries = await importTree([...nestedTree(), { path: 'nested/big.bin', content: bigFile() }], source)
    const root = entries.get('nested')?.cid as CID
    const car = await collect(exportCar(source, root))

    // Order and uniqueness, as read by @ipld/car itself.
    const reader = await CarReader.fromBytes(car)
    assert.deepEqual((await reader.getRoots()).map(String), [root.toString()])
    const order: string[] = []
    for await (const block of reader.blocks()) order.push(block.cid.toString())
    assert.equal(order[0], root.toString())
    assert.equal(new Set(order).size, order.length)
    assert.deepEqual(order, (await toArray(walkDag(source, root))).map((b) => b.cid.toString()))
    assert.equal(order.length, source.size)

    const target = new MemoryBlockstore()
    const events: number[] = []
    const result = await importCar(
      (async function* () {
        for (let i = 0; i < car.byteLength; i += 65_536) yield car.subarray(i, i + 65_536)
      })(),
      target,
      { onProgress: (e) => events.push(e.detail.blocks) },
    )
    assert.deepEqual(result.roots.map(String), [root.toString()])
    assert.equal(result.blocks, order.length)
    assert.equal(events.at(-1), order.length)
    assertBytes(await collect(cat(target, `${root}/big.bin`)), bigFile())
  })

  it('reads CARv2 (as written by wrapping a CARv1 payload)', async () => {
    const source = new MemoryBlockstore()
    const { cid } = await importBytes(bigFile().subarray(0, 600_000), source)
    const v1 = await collect(exportCar(source, cid))
    const pragma = Uint8Array.from([0x0a, 0xa1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x02])
    const header = new Uint8Array(40)
    const view = new DataView(header.buffer)
    const dataOffset = pragma.byteLength + 40 + 7 // a little padding before the payload
    view.setBigUint64(16, BigInt(dataOffset), true)
    view.setBigUint64(24, BigInt(v1.byteLength), true)
    view.setBigUint64(32, 0n, true)
    const trailer = new Uint8Array(33).fill(0xee) // stands in for an index: must be ignored
    const v2 = Buffer.concat([pragma, header, new Uint8Array(7), v1, trailer])
    const target = new MemoryBlockstore()
    const result = await importCar(
      (async function* () {
        yield v2
      })(),
      target,
    )
    assert.deepEqual(result.roots.map(String), [cid.toString()])
    assertBytes(await collect(cat(target, cid.toString())), bigFile().subarray(0, 600_000))
  })
})
