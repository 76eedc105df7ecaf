import { createHash } from 'node:crypto'
import { PinfoldError } from '../core/errors.ts'

/** Every item id is exactly this many bytes; ids sort bytewise. */
export const ID_BYTES = 32
/** Longest CID accepted, in a set or in a message (a 64-byte digest CID is ~70 bytes). */
export const MAX_CID_BYTES = 256

/** A reconciliation message that is truncated, malformed, over a bound or contradicts the local set. */
export class InvalidSyncMessageError extends PinfoldError {
  constructor(reason: string, cause?: unknown) {
    super('ERR_INVALID_SYNC_MESSAGE', `invalid sync message: ${reason}`, { cause, userError: true })
  }
}

/**
 * Reads an unsigned LEB128 varint at `pos` (at most 8 bytes, value ≤ 2^53).
 * Returns the value and the position after it, or undefined when truncated or too long.
 */
export function readVarint(bytes: Uint8Array, pos: number): { value: number; end: number } | undefined {
  let value = 0
  for (let i = 0; i < 8; i++) {
    const byte = bytes[pos + i]
    if (byte === undefined) return undefined
    value += (byte & 0x7f) * 2 ** (7 * i)
    if ((byte & 0x80) === 0) return { value, end: pos + i + 1 }
  }
  return undefined
}

/**
 * The pin key of a CID: its multihash. When the multihash is sha2-256 with a 32-byte digest
 * (all CIDv0 and the usual CIDv1) the id is the digest itself, else SHA-256 of the whole
 * multihash — so ids are uniformly distributed, fixed-length and bytewise-sortable, and CIDs
 * that differ only in version or codec are the same pin key (blocks are keyed by multihash).
 * Returns undefined when `cid` is not a well-formed binary CID (v0 or v1).
 */
export function tryPinId(cid: Uint8Array): Uint8Array | undefined {
  if (cid.byteLength > MAX_CID_BYTES || cid.byteLength < 2) return undefined
  if (cid.byteLength === 34 && cid[0] === 0x12 && cid[1] === 0x20) {
    return cid.subarray(2)
  }
  const version = readVarint(cid, 0)
  if (version === undefined || version.value !== 1) return undefined
  const codec = readVarint(cid, version.end)
  if (codec === undefined) return undefined
  const mhStart = codec.end
  const code = readVarint(cid, mhStart)
  if (code === undefined) return undefined
  const length = readVarint(cid, code.end)
  if (length === undefined || length.end + length.value !== cid.byteLength) return undefined
  if (code.value === 0x12 && length.value === ID_BYTES) return cid.subarray(length.end)
  return new Uint8Array(createHash('sha256').update(cid.subarray(mhStart)).digest())
}

/**
 * Writes the pin id of `cid` at `out[offset..offset+32)`; false when `cid` is not a CID.
 * Same as {@link tryPinId} with a fast path for the common CIDv1 sha2-256 shape (no allocation).
 */
export function writePinId(cid: Uint8Array, out: Uint8Array, offset: number): boolean {
  if (cid.byteLength === 36 && cid[0] === 0x01 && (cid[1] as number) < 0x80 && cid[2] === 0x12 && cid[3] === 0x20) {
    for (let b = 0; b < ID_BYTES; b++) out[offset + b] = cid[4 + b] as number
    return true
  }
  const id = tryPinId(cid)
  if (id === undefined) return false
  out.set(id, offset)
  return true
}

/** Bytewise comparison of two byte strings (a proper prefix sorts first). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number)
    if (d !== 0) return d
  }
  return a.byteLength - b.byteLength
}

/** Key for Maps of ids (one char per byte). */
export function idKey(id: Uint8Array): string {
  return String.fromCharCode.apply(null, id as unknown as number[])
}
