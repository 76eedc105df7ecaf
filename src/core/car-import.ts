import { bytesReader, readHeader } from '@ipld/car/decoder'
import { varint } from 'multiformats'
import { CID } from 'multiformats/cid'
import type { BlockSink } from './blockstore.ts'
import { BoundedByteReader } from './byte-reader.ts'
import { InvalidCarError, InvalidOptionError } from './errors.ts'
import { isIdentityCid } from './identity.ts'
import type { ProgressEvent, ProgressOptions } from './options.ts'
import { verifyBlock } from './verify-block.ts'

export interface CarImportResult {
  roots: CID[]
  blocks: number
  bytes: number
}

/** Emitted after each block is stored: running totals. */
export type CarImportProgressEvent = ProgressEvent<'car:block', { blocks: number; bytes: number }>

export interface CarImportOptions extends ProgressOptions<CarImportProgressEvent> {
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
 * Reads a CARv1 or CARv2 stream and puts every block into `sink`, then flushes it.
 *
 * Streaming with bounded memory: one block at a time, every varint length checked
 * against `maxBlockBytes`/`maxHeaderBytes` before anything is allocated. Every block is
 * verified against its CID before `put` ({@link BlockHashMismatchError}); blocks are put
 * in stream order and `put` is idempotent, so a re-import after a failure is safe.
 * Identity blocks are verified but not stored. A CARv2 index, if present, is ignored.
 * Truncated or malformed input rejects with {@link InvalidCarError}; blocks put before
 * the failure stay in the sink (not flushed).
 */
export async function importCar(
  input: AsyncIterable<Uint8Array>,
  sink: BlockSink,
  options: CarImportOptions = {},
): Promise<CarImportResult> {
  const maxBlockBytes = positiveLimit(options.maxBlockBytes, DEFAULT_MAX_BLOCK_BYTES, 'maxBlockBytes')
  const maxHeaderBytes = positiveLimit(options.maxHeaderBytes, DEFAULT_MAX_HEADER_BYTES, 'maxHeaderBytes')
  const reader = new BoundedByteReader(input)
  try {
    const roots = await readRoots(reader, maxHeaderBytes)
    let blocks = 0
    let bytes = 0
    while (!(await reader.atEnd())) {
      options.signal?.throwIfAborted()
      const block = await readBlock(reader, maxBlockBytes + CID_OVERHEAD)
      await verifyBlock(block.cid, block.bytes)
      if (!isIdentityCid(block.cid)) await sink.put(block.cid, block.bytes, options)
      blocks++
      bytes += block.bytes.byteLength
      options.onProgress?.({ type: 'car:block', detail: { blocks, bytes } })
    }
    await sink.flush(options)
    return { roots, blocks, bytes }
  } catch (err) {
    await reader.close().catch(() => {})
    throw err
  }
}

/** Reads the header (following a CARv2 pragma to its inner CARv1 header) and returns roots. */
async function readRoots(reader: BoundedByteReader, maxHeaderBytes: number): Promise<CID[]> {
  const header = await readSection(reader, maxHeaderBytes, 'header')
  if (equalBytes(header, V2_PRAGMA)) {
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
    const inner = await readSection(reader, maxHeaderBytes, 'header')
    return decodeV1Header(inner)
  }
  return decodeV1Header(header)
}

async function readSection(reader: BoundedByteReader, limit: number, what: string): Promise<Uint8Array> {
  const length = await reader.readVarint(limit, what)
  if (length === 0) throw new InvalidCarError(`${what} has zero length`)
  return reader.readExact(length, what)
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

async function readBlock(reader: BoundedByteReader, limit: number): Promise<{ cid: CID; bytes: Uint8Array }> {
  const section = await readSection(reader, limit, 'block')
  let cid: CID
  let bytes: Uint8Array
  try {
    ;[cid, bytes] = CID.decodeFirst(section) as [CID, Uint8Array]
  } catch (err) {
    throw new InvalidCarError('block section does not start with a valid CID', err)
  }
  return { cid, bytes }
}

function positiveLimit(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidOptionError(`${name} must be a positive integer`)
  }
  return value
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i])
}
