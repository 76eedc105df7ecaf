import { varint } from 'multiformats'
import type { CID } from 'multiformats/cid'

/**
 * One CAR section: a varint length prefix followed by the parts, in one buffer
 * (`[header]` for the header, `[cid.bytes, block]` for a block).
 */
export function carSection(...parts: Uint8Array[]): Uint8Array {
  const length = parts.reduce((n, part) => n + part.byteLength, 0)
  const prefixLength = varint.encodingLength(length)
  const out = new Uint8Array(prefixLength + length)
  varint.encodeTo(length, out, 0)
  let offset = prefixLength
  for (const part of parts) {
    out.set(part, offset)
    offset += part.byteLength
  }
  return out
}

/**
 * The dag-cbor CARv1 header `{ roots: [root], version: 1 }`. Hand-encoded: the shape
 * is fixed (map keys in dag-cbor canonical order) and it spares a codec dependency.
 */
export function carV1Header(root: CID): Uint8Array {
  const cidLength = root.bytes.byteLength + 1 // tag 42 payload: 0x00 multibase prefix + CID bytes
  const bytesHead =
    cidLength < 24 ? [0x40 + cidLength] : cidLength < 256 ? [0x58, cidLength] : [0x59, cidLength >> 8, cidLength & 0xff]
  const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0))
  return Uint8Array.from([
    0xa2, // map(2)
    0x65,
    ...ascii('roots'),
    0x81, // array(1)
    0xd8,
    0x2a, // tag(42)
    ...bytesHead,
    0x00,
    ...root.bytes,
    0x67,
    ...ascii('version'),
    0x01,
  ])
}

/** Frames a block stream as a CARv1 with `root` as its single root. */
export async function* encodeCar(
  root: CID,
  blocks: AsyncIterable<{ cid: CID; bytes: Uint8Array }>,
): AsyncGenerator<Uint8Array> {
  yield carSection(carV1Header(root))
  for await (const { cid, bytes } of blocks) yield carSection(cid.bytes, bytes)
}
