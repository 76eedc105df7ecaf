import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { BufferImporter } from 'ipfs-unixfs-importer'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest, type Digest } from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'

/**
 * SHA-256 multihash computed off the main thread (WebCrypto digests run on libuv's thread
 * pool), so several leaves hash in parallel while the main thread chunks, encodes and writes.
 * Same bytes as `sha256.digest` from multiformats.
 */
export async function sha256Async(bytes: Uint8Array): Promise<Digest<typeof sha256.code, number>> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)
  return createDigest(sha256.code, new Uint8Array(digest))
}

/** Length of `n` as a protobuf varint. */
function varintLength(n: number): number {
  let len = 1
  while (n >= 0x80) {
    n = Math.floor(n / 128)
    len++
  }
  return len
}

function writeVarint(out: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    out[pos++] = (n % 128) | 0x80
    n = Math.floor(n / 128)
  }
  out[pos++] = n
  return pos
}

/**
 * The dag-pb leaf block of a non-empty chunk, byte-identical to the importer's
 * `dagPb.encode({ Data: new UnixFS({ type: 'file', data }).marshal(), Links: [] })`, built
 * with one allocation and one copy (the library's path copies the chunk twice):
 * `0a len( 08 02 | 12 len(n) <data> | 18 varint(n) )`.
 */
export function encodeFileLeaf(data: Uint8Array): Uint8Array {
  const n = data.byteLength
  const inner = 2 + 1 + varintLength(n) + n + 1 + varintLength(n)
  // allocUnsafe: not zero-filled (every byte is written below)
  const out: Uint8Array = Buffer.allocUnsafe(1 + varintLength(inner) + inner)
  let pos = 0
  out[pos++] = 0x0a
  pos = writeVarint(out, pos, inner)
  out[pos++] = 0x08
  out[pos++] = 0x02
  out[pos++] = 0x12
  pos = writeVarint(out, pos, n)
  out.set(data, pos)
  pos += n
  out[pos++] = 0x18
  writeVarint(out, pos, n)
  return out
}

/**
 * The importer's default buffer importer (leaf builder), made faster: leaves hash on the
 * thread pool ({@link sha256Async}) and dag-pb leaves are encoded with one copy
 * ({@link encodeFileLeaf}). Yields the same `{ cid, unixfs, size, block }` as the library's,
 * so CIDs are unchanged (checked against the reference importer in test/core). Not for
 * dag-pb leaves with mtime/mode (see `single-leaf-fix.ts`).
 */
export function fastBufferImporter(options: { cidVersion: 0 | 1; rawLeaves: boolean }): BufferImporter {
  return async function* bufferImporter(file, blockstore) {
    for await (const chunk of file.content) {
      yield async () => {
        if (options.rawLeaves) {
          const cid = CID.createV1(raw.code, await sha256Async(chunk))
          await blockstore.put(cid, chunk)
          return { cid, size: BigInt(chunk.byteLength), block: chunk }
        }
        const unixfs = new UnixFS({ type: 'file', data: chunk })
        const block =
          chunk.byteLength === 0 ? dagPb.encode({ Data: unixfs.marshal(), Links: [] }) : encodeFileLeaf(chunk)
        const cid = CID.create(options.cidVersion, dagPb.code, await sha256Async(block))
        await blockstore.put(cid, block)
        return { cid, unixfs, size: BigInt(block.byteLength), block }
      }
    }
  }
}
