import { varint } from 'multiformats'
import type { CID } from 'multiformats/cid'
import type { BlockSource } from './blockstore.ts'
import type { AbortOptions } from './options.ts'
import { walkDag } from './walk-dag.ts'

/**
 * Streams the DAG under `root` as a CARv1 with `root` as its single root.
 *
 * Blocks come in {@link walkDag} order: depth-first, parent before children, children
 * in link order, each block once, identity blocks omitted. One chunk is yielded per
 * block (framing and bytes), so memory stays at one block; the consumer's pace drives
 * reads. A block missing mid-DAG rejects after the blocks before it were yielded,
 * which a verifying reader detects as an incomplete DAG.
 */
export function exportCar(source: BlockSource, root: CID, options: AbortOptions = {}): AsyncGenerator<Uint8Array> {
  return encodeCar(root, walkDag(source, root, options))
}

/**
 * Frames a stream of blocks as a CARv1 with `root` as its single root, in the order
 * given (callers choose the walk: whole DAG, a scope, a byte range).
 */
export async function* encodeCar(
  root: CID,
  blocks: AsyncIterable<{ cid: CID; bytes: Uint8Array }>,
): AsyncGenerator<Uint8Array> {
  yield frame(encodeCarV1Header(root))
  for await (const { cid, bytes } of blocks) yield frame(cid.bytes, bytes)
}

/** A varint length prefix followed by the parts, in one buffer. */
function frame(...parts: Uint8Array[]): Uint8Array {
  const length = parts.reduce((n, p) => n + p.byteLength, 0)
  const prefix = varint.encodingLength(length)
  const out = new Uint8Array(prefix + length)
  varint.encodeTo(length, out, 0)
  let offset = prefix
  for (const part of parts) {
    out.set(part, offset)
    offset += part.byteLength
  }
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
