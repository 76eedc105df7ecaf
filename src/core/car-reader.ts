import { bytesReader, readHeader } from '@ipld/car/decoder'
import { varint } from 'multiformats'
import { CID } from 'multiformats/cid'
import { BoundedByteReader } from './byte-reader.ts'
import { InvalidCarError, InvalidOptionError } from './errors.ts'

export interface CarReadLimits {
  /** Largest block payload accepted (default 2 MiB, Kubo's block size ceiling). */
  maxBlockBytes?: number
  /** Largest header accepted (default 1 MiB). */
  maxHeaderBytes?: number
}

const DEFAULT_MAX_BLOCK_BYTES = 2 * 1024 * 1024
const DEFAULT_MAX_HEADER_BYTES = 1024 * 1024
/** Room for the CID in front of a block's bytes (a CID with a 64-byte digest is < 80 bytes). */
const CID_OVERHEAD = 256
/** `{version: 2}` as dag-cbor: the CARv2 pragma's payload. */
const V2_PRAGMA = Uint8Array.from([0xa1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x02])
const V2_FIXED_HEADER_BYTES = 40

/**
 * Reads a CARv1 or CARv2 stream block by block with bounded memory: every length is
 * checked against its limit before anything of that size is allocated. It does not
 * verify blocks — callers decide what a block must match (its hash, a parent's link).
 * One consumer at a time: call `readHeader` once, then `next` until it returns undefined.
 * Malformed or truncated input rejects with {@link InvalidCarError}.
 */
export class CarBlockReader {
  readonly #reader: BoundedByteReader
  readonly #maxBlockBytes: number
  readonly #maxHeaderBytes: number

  constructor(input: AsyncIterable<Uint8Array>, limits: CarReadLimits = {}) {
    this.#reader = new BoundedByteReader(input)
    this.#maxBlockBytes = positiveLimit(limits.maxBlockBytes, DEFAULT_MAX_BLOCK_BYTES, 'maxBlockBytes')
    this.#maxHeaderBytes = positiveLimit(limits.maxHeaderBytes, DEFAULT_MAX_HEADER_BYTES, 'maxHeaderBytes')
  }

  /** Reads the header (following a CARv2 pragma to its inner CARv1 header); returns the roots. */
  async readHeader(): Promise<CID[]> {
    const reader = this.#reader
    const header = await this.#readSection(this.#maxHeaderBytes, 'header')
    if (!equalBytes(header, V2_PRAGMA)) return decodeV1Header(header)
    const fixed = await reader.readExact(V2_FIXED_HEADER_BYTES, 'CARv2 header')
    const view = new DataView(fixed.buffer, fixed.byteOffset, fixed.byteLength)
    const dataOffset = view.getBigUint64(16, true)
    const dataSize = view.getBigUint64(24, true)
    const here = BigInt(reader.position)
    if (dataOffset < here || dataOffset > BigInt(Number.MAX_SAFE_INTEGER) || dataSize > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new InvalidCarError(`CARv2 data offset ${dataOffset} is invalid`)
    }
    await reader.skip(Number(dataOffset - here), 'CARv2 padding')
    reader.end = Number(dataOffset) + Number(dataSize)
    return decodeV1Header(await this.#readSection(this.#maxHeaderBytes, 'header'))
  }

  /** The next block, or `undefined` at a clean end of the data. */
  async next(): Promise<{ cid: CID; bytes: Uint8Array } | undefined> {
    if (await this.#reader.atEnd()) return undefined
    const section = await this.#readSection(this.#maxBlockBytes + CID_OVERHEAD, 'block')
    let cid: CID
    let bytes: Uint8Array
    try {
      ;[cid, bytes] = CID.decodeFirst(section) as [CID, Uint8Array]
    } catch (err) {
      throw new InvalidCarError('block section does not start with a valid CID', err)
    }
    if (bytes.byteLength > this.#maxBlockBytes) {
      throw new InvalidCarError(`block ${cid} of ${bytes.byteLength} bytes exceeds limit ${this.#maxBlockBytes}`)
    }
    return { cid, bytes }
  }

  /** Stops the underlying source early (after an error, or when the consumer gives up). */
  close(): Promise<void> {
    return this.#reader.close()
  }

  async #readSection(limit: number, what: string): Promise<Uint8Array> {
    const length = await this.#reader.readVarint(limit, what)
    if (length === 0) throw new InvalidCarError(`${what} has zero length`)
    return this.#reader.readExact(length, what)
  }
}

async function decodeV1Header(header: Uint8Array): Promise<CID[]> {
  // @ipld/car validates the header shape; it reads its own varint, so we re-frame it.
  const framed = new Uint8Array(varint.encodingLength(header.byteLength) + header.byteLength)
  varint.encodeTo(header.byteLength, framed, 0)
  framed.set(header, framed.byteLength - header.byteLength)
  try {
    return (await readHeader(bytesReader(framed), 1)).roots
  } catch (err) {
    throw new InvalidCarError(`bad header${err instanceof Error ? `: ${err.message}` : ''}`, err)
  }
}

function positiveLimit(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value <= 0) throw new InvalidOptionError(`${name} must be a positive integer`)
  return value
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i])
}
