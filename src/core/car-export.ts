import { varint } from 'multiformats'
import type { CID } from 'multiformats/cid'
import type { BlockSource } from './blockstore.ts'
import type { AbortOptions } from './options.ts'
import { walkDag } from './walk-dag.ts'

/**
 * Streams the DAG under `root` as a CARv1 with `root` as its single root.
 *
 * Blocks come in {@link walkDag} order: depth-first, parent before children, children
 * in link order, each block once, identity blocks omitted. Two chunks are yielded per
 * block: its framing (varint length + CID) and then the block's bytes (if any) as the source
 * returned them, uncopied — consumers must not modify chunks. Memory stays at one block;
 * the consumer's pace drives reads. A block missing mid-DAG rejects after the blocks
 * before it were yielded, which a verifying reader detects as an incomplete DAG.
 */
export function exportCar(source: BlockSource, root: CID, options: AbortOptions = {}): AsyncGenerator<Uint8Array> {
  return encodeCar(root, walkDag(source, root, options))
}

/**
 * Frames a stream of blocks as a CARv1 with `root` as its single root, in the order
 * given (callers choose the walk: whole DAG, a scope, a byte range). Each block is two
 * chunks, its section header (varint length + CID) and its bytes, never copied: blocks
 * are up to megabytes, their headers tens of bytes.
 */
export async function* encodeCar(
  root: CID,
  blocks: AsyncIterable<{ cid: CID; bytes: Uint8Array }>,
): AsyncGenerator<Uint8Array> {
  const header = encodeCarV1Header(root)
  yield sectionHeader(header.byteLength, header)
  for await (const { cid, bytes } of blocks) {
    yield sectionHeader(cid.bytes.byteLength + bytes.byteLength, cid.bytes)
    if (bytes.byteLength > 0) yield bytes
  }
}

/** A section's varint length (of the whole section) followed by `head`, in one buffer. */
function sectionHeader(sectionLength: number, head: Uint8Array): Uint8Array {
  const prefix = varint.encodingLength(sectionLength)
  const out = new Uint8Array(prefix + head.byteLength)
  varint.encodeTo(sectionLength, out, 0)
  out.set(head, prefix)
  return out
}

/**
 * dag-cbor of `{ roots: [root], version: 1 }`, hand-encoded because the shape is fixed
 * (keys in dag-cbor canonical order: shorter first) and it spares a codec dependency.
 */
export function encodeCarV1Header(root: CID): Uint8Array {
  const cidLength = root.bytes.byteLength + 1 // CBOR tag 42 payload: 0x00 multibase prefix + CID
  const bytesHead =
    cidLength < 24 ? [0x40 + cidLength] : cidLength < 256 ? [0x58, cidLength] : [0x59, cidLength >> 8, cidLength & 0xff]
  const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0))
  return Uint8Array.from([
    0xa2, // map(2)
    0x65,
    ...ascii('roots'),
    0x81, // array(1)
    0xd8,
    0x2a, // tag(42): CID
    ...bytesHead,
    0x00,
    ...root.bytes,
    0x67,
    ...ascii('version'),
    0x01,
  ])
}
