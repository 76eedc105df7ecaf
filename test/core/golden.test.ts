import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { importBytes, importEntries, MemoryBlockstore, type ProfileName } from '../../src/core/index.ts'
import { bigFile, hamtTree, nestedTree } from './fixtures/datasets.ts'
import { chunksOf, importTree } from './helpers.ts'

const golden = JSON.parse(readFileSync(new URL('./fixtures/golden-cids.json', import.meta.url), 'utf8')) as Record<
  ProfileName,
  { bigFile: string; nested: Record<string, string>; hamtRoot: string }
>
const hello = new TextEncoder().encode('hello world')

describe('golden CIDs from REFERENCE.md (Kubo)', () => {
  it('empty file and "hello world" with kubo defaults (CIDv0)', async () => {
    const store = new MemoryBlockstore()
    assert.equal((await importBytes(new Uint8Array(0), store)).cid.toString(), 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH')
    assert.equal((await importBytes(hello, store)).cid.toString(), 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD')
  })

  it('empty file and "hello world" with --cid-version=1', async () => {
    const store = new MemoryBlockstore()
    const empty = await importBytes(new Uint8Array(0), store, { cidVersion: 1 })
    assert.equal(empty.cid.toString(), 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku')
    const hw = await importBytes(hello, store, { cidVersion: 1 })
    assert.equal(hw.cid.toString(), 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')
    assert.equal(hw.size, 11n)
  })

  it('empty directory v0 and v1', async () => {
    const store = new MemoryBlockstore()
    const v0 = await importTree([{ path: 'd' }], store)
    assert.equal(v0.get('d')?.cid.toString(), 'QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn')
    assert.equal(v0.get('d')?.type, 'directory')
    const v1 = await importTree([{ path: 'd' }], store, { cidVersion: 1 })
    assert.equal(v1.get('d')?.cid.toString(), 'bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354')
  })

  it('streamed content gives the same CID as one buffer', async () => {
    const store = new MemoryBlockstore()
    const data = bigFile().subarray(0, 1_000_000)
    const whole = await importBytes(data, store)
    const streamed = await importBytes(chunksOf(data, 12_345), store)
    assert.equal(streamed.cid.toString(), whole.cid.toString())
  })
})

for (const profile of ['kubo', 'v1-2025'] as const) {
  describe(`golden CIDs, profile ${profile} (fixture from ipfs-unixfs-importer)`, () => {
    it('5 MiB multi-chunk file', async () => {
      const entry = await importBytes(bigFile(), new MemoryBlockstore(), { profile })
      assert.equal(entry.cid.toString(), golden[profile].bigFile)
      assert.equal(entry.size, 5n * 1024n * 1024n)
      assert.equal(entry.type, 'file')
    })

    it('nested directory: every entry', async () => {
      const entries = await importTree(nestedTree(), new MemoryBlockstore(), { profile })
      for (const [path, cid] of Object.entries(golden[profile].nested)) {
        assert.equal(entries.get(path)?.cid.toString(), cid, path)
      }
    })

    it('5000-file directory is HAMT-sharded with the expected root', async () => {
      const store = new MemoryBlockstore()
      const entries = await importTree(hamtTree(), store, { profile })
      const root = entries.get('hamt')
      assert.ok(root)
      assert.equal(root.cid.toString(), golden[profile].hamtRoot)
      const node = dagPb.decode(await store.get(root.cid))
      assert.ok(node.Data)
      assert.equal(UnixFS.unmarshal(node.Data).type, 'hamt-sharded-directory')
    })
  })
}

describe('import options', () => {
  it('chunker size-N changes the layout; garbage is refused', async () => {
    const store = new MemoryBlockstore()
    const data = bigFile().subarray(0, 100_000)
    const a = await importBytes(data, store, { chunker: 'size-262144' })
    const b = await importBytes(data, store)
    assert.equal(a.cid.toString(), b.cid.toString())
    const c = await importBytes(data, store, { chunker: 'size-1000' })
    assert.notEqual(c.cid.toString(), b.cid.toString())
    for (const chunker of ['size-0', 'size-', 'size-abc', 'rabin', 'size-1048577', 'size-1e3', ' size-10']) {
      await assert.rejects(importBytes(data, store, { chunker }), { code: 'ERR_INVALID_OPTION' }, chunker)
    }
  })

  it('unknown profile and bad cidVersion are refused', async () => {
    const store = new MemoryBlockstore()
    await assert.rejects(importBytes(hello, store, { profile: 'nope' as ProfileName }), { code: 'ERR_INVALID_OPTION' })
    await assert.rejects(importBytes(hello, store, { cidVersion: 2 as 1 }), { code: 'ERR_INVALID_OPTION' })
  })

  it('cidVersion 1 with rawLeaves false keeps dag-pb leaves', async () => {
    const entry = await importBytes(hello, new MemoryBlockstore(), { cidVersion: 1, rawLeaves: false })
    assert.equal(entry.cid.version, 1)
    assert.equal(entry.cid.code, dagPb.code)
  })

  it('wrapWithDirectory yields the wrapper last, after the flush', async () => {
    let flushed = false
    const inner = new MemoryBlockstore()
    const sink = {
      put: inner.put.bind(inner),
      flush: async () => {
        flushed = true
      },
    }
    const seen: { path: string; flushed: boolean }[] = []
    for await (const e of importEntries([{ path: 'x.txt', content: hello }], sink, { wrapWithDirectory: true })) {
      seen.push({ path: e.path, flushed })
    }
    assert.deepEqual(seen, [
      { path: 'x.txt', flushed: true },
      { path: '', flushed: true },
    ])
  })

  it('refuses candidate paths that escape', async () => {
    for (const path of ['../x', 'a/../b', 'a//b', 'a/./b']) {
      const run = async () => {
        for await (const _ of importEntries([{ path, content: hello }], new MemoryBlockstore())) {
          // drain
        }
      }
      await assert.rejects(run, { code: 'ERR_UNSAFE_PATH' }, path)
    }
  })

  it('reports cumulative bytes read per file', async () => {
    const events: { path: string; bytes: number }[] = []
    for await (const _ of importEntries([{ path: 'f', content: chunksOf(bigFile(), 300_000) }], new MemoryBlockstore(), {
      onProgress: (e) => events.push(e.detail),
    })) {
      // drain
    }
    assert.ok(events.length > 1)
    assert.equal(events.at(-1)?.bytes, 5 * 1024 * 1024)
    assert.equal(events.at(-1)?.path, 'f')
  })
})
