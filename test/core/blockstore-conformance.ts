import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { Blockstore } from '../../src/core/index.ts'

/** A raw block whose bytes are `text`, with its CIDv1. */
export async function rawBlock(text: string): Promise<{ cid: CID; bytes: Uint8Array }> {
  const bytes = new TextEncoder().encode(text)
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

/**
 * The contract every {@link Blockstore} implementation must meet (see the TSDoc of
 * BlockSink/BlockSource in src/core/blockstore.ts). Register it from a test file:
 *
 *   blockstoreConformance('disk store', async () => ({ store, close: async () => {...} }))
 */
export function blockstoreConformance(
  name: string,
  open: () => Promise<{ store: Blockstore; close(): Promise<void> }>,
): void {
  describe(`Blockstore conformance: ${name}`, () => {
    let store: Blockstore
    let close: () => Promise<void>
    before(async () => {
      const opened = await open()
      store = opened.store
      close = () => opened.close()
    })
    after(async () => {
      await close()
    })

    it('put then get returns the same bytes', async () => {
      const { cid, bytes } = await rawBlock('round trip')
      await store.put(cid, bytes)
      assert.deepEqual(await store.get(cid), bytes)
    })

    it('put is idempotent', async () => {
      const { cid, bytes } = await rawBlock('twice')
      await store.put(cid, bytes)
      await store.put(cid, bytes)
      await Promise.all([store.put(cid, bytes), store.put(cid, bytes)])
      assert.deepEqual(await store.get(cid), bytes)
    })

    it('get of a missing block rejects with ERR_BLOCK_NOT_FOUND', async () => {
      const { cid } = await rawBlock('never stored')
      await assert.rejects(store.get(cid), { code: 'ERR_BLOCK_NOT_FOUND' })
    })

    it('has reports presence', async () => {
      const { cid, bytes } = await rawBlock('present')
      assert.equal(await store.has(cid), false)
      await store.put(cid, bytes)
      assert.equal(await store.has(cid), true)
    })

    it('CIDv0 and CIDv1 with the same multihash name the same bytes', async () => {
      const bytes = new TextEncoder().encode('dag-pb-ish bytes addressed two ways')
      const digest = await sha256.digest(bytes)
      const v0 = CID.createV0(digest)
      const v1 = CID.createV1(0x70, digest)
      await store.put(v0, bytes)
      assert.equal(await store.has(v1), true)
      assert.deepEqual(await store.get(v1), bytes)
      const other = new TextEncoder().encode('stored under v1 first')
      const otherDigest = await sha256.digest(other)
      await store.put(CID.createV1(0x70, otherDigest), other)
      assert.deepEqual(await store.get(CID.createV0(otherDigest)), other)
    })

    it('stored bytes do not change when the caller reuses its buffer', async () => {
      const { cid, bytes } = await rawBlock('reused buffer')
      const copy = bytes.slice()
      await store.put(cid, bytes)
      bytes.fill(0)
      assert.deepEqual(await store.get(cid), copy)
    })

    it('many concurrent puts, then flush: all readable', async () => {
      const blocks = await Promise.all(Array.from({ length: 500 }, (_, i) => rawBlock(`block number ${i}`)))
      await Promise.all(blocks.map((b) => store.put(b.cid, b.bytes)))
      await store.flush()
      const read = await Promise.all(blocks.map((b) => store.get(b.cid)))
      read.forEach((bytes, i) => {
        assert.deepEqual(bytes, blocks[i]?.bytes)
      })
      const present = await Promise.all(blocks.map((b) => store.has(b.cid)))
      assert.ok(present.every(Boolean))
    })

    it('flush with nothing pending resolves', async () => {
      await store.flush()
      await store.flush()
    })
  })
}
