import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { importer } from 'ipfs-unixfs-importer'
import { sha256 } from 'multiformats/hashes/sha2'
import { encodeFileLeaf, sha256Async } from '../../src/core/fast-leaves.ts'
import { type ImportOptions, importBytes, MemoryBlockstore, parseChunker } from '../../src/core/index.ts'
import { importerOptions } from '../../src/core/profiles.ts'
import { chunksOf } from './helpers.ts'

/** Deterministic bytes (xorshift32). */
function bytesOf(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

/** Every block the reference importer (library defaults for leaves) stores, and its root. */
async function reference(content: Uint8Array, options: ImportOptions): Promise<{ root: string; blocks: Map<string, Uint8Array> }> {
  const blocks = new Map<string, Uint8Array>()
  const store = {
    put: async (cid: { toString(): string }, bytes: Uint8Array) => {
      blocks.set(cid.toString(), bytes)
      return cid
    },
  }
  let root = ''
  for await (const entry of importer([{ content: [content] }], store as never, importerOptions(options))) {
    root = entry.cid.toString()
  }
  return { root, blocks }
}

async function pinfold(content: Uint8Array, options: ImportOptions, pieces: number): Promise<{ root: string; blocks: Map<string, Uint8Array> }> {
  const blocks = new Map<string, Uint8Array>()
  const store = new MemoryBlockstore()
  const sink = {
    put: async (cid: { toString(): string }, bytes: Uint8Array) => {
      blocks.set(cid.toString(), Uint8Array.from(bytes))
      await store.put(cid as never, bytes)
    },
    flush: () => store.flush(),
  }
  const entry = await importBytes(chunksOf(content, pieces), sink as never, options)
  return { root: entry.cid.toString(), blocks }
}

describe('fast leaf builder', () => {
  it('encodes dag-pb file leaves byte for byte as the library', () => {
    for (const n of [1, 2, 100, 127, 128, 129, 16383, 16384, 16385, 262144, 262145, 1048576, 2097151, 2097152]) {
      const data = bytesOf(n, n)
      const expected = dagPb.encode({ Data: new UnixFS({ type: 'file', data }).marshal(), Links: [] })
      assert.deepEqual(Buffer.from(encodeFileLeaf(data)), Buffer.from(expected), `size ${n}`)
    }
  })

  it('hashes as multiformats sha256', async () => {
    for (const n of [0, 1, 1000, 262144]) {
      const data = bytesOf(n, 7)
      assert.deepEqual((await sha256Async(data)).bytes, (await sha256.digest(data)).bytes)
    }
  })

  // extra: sizes tested besides the chunk-count neighbourhoods (174² + 1 chunks: a third level)
  const cases: Array<{ name: string; options: ImportOptions; chunkCounts: number[]; extra?: number[] }> = [
    { name: 'kubo', options: { profile: 'kubo' }, chunkCounts: [] },
    { name: 'v1-2025', options: { profile: 'v1-2025' }, chunkCounts: [] },
    // small chunks so trees of 174 / 174² + 1 and 1024 + 1 leaves stay small
    { name: 'kubo size-64', options: { profile: 'kubo', chunker: 'size-64' }, chunkCounts: [173, 174, 175], extra: [(174 * 174 + 1) * 64 - 63] },
    { name: 'v1-2025 size-16', options: { profile: 'v1-2025', chunker: 'size-16' }, chunkCounts: [1023, 1024, 1025] },
    { name: 'kubo cidVersion 1', options: { profile: 'kubo', cidVersion: 1, chunker: 'size-1000' }, chunkCounts: [3, 175] },
    { name: 'kubo rawLeaves', options: { profile: 'kubo', rawLeaves: true, chunker: 'size-1000' }, chunkCounts: [3, 175] },
    { name: 'v1-2025 dag-pb leaves', options: { profile: 'v1-2025', rawLeaves: false, chunker: 'size-1000' }, chunkCounts: [3] },
  ]
  for (const { name, options, chunkCounts, extra = [] } of cases) {
    it(`gives the reference importer's root and blocks (${name})`, async () => {
      const chunk = options.chunker !== undefined ? parseChunker(options.chunker) : options.profile === 'v1-2025' ? 1 << 20 : 1 << 18
      const sizes = [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk + 7, ...chunkCounts.flatMap((c) => [c * chunk - 1, c * chunk, c * chunk + 1]), ...extra]
      for (const size of sizes) {
        const content = bytesOf(size, size + 1)
        const ref = await reference(content, options)
        // pieces that do not line up with chunks exercise the chunker across reads
        const got = await pinfold(content, options, Math.max(1, Math.floor(chunk * 1.5) + 3))
        assert.equal(got.root, ref.root, `root for ${size} bytes`)
        assert.equal(got.blocks.size, ref.blocks.size, `block count for ${size} bytes`)
        for (const [cid, bytes] of ref.blocks) assert.deepEqual(got.blocks.get(cid), bytes, `block ${cid}`)
      }
    })
  }
})
