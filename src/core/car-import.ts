import type { CID } from 'multiformats/cid'
import type { BlockSink } from './blockstore.ts'
import { CarBlockReader, type CarReadLimits } from './car-reader.ts'
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

export interface CarImportOptions extends ProgressOptions<CarImportProgressEvent>, CarReadLimits {}

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
  const reader = new CarBlockReader(input, options)
  try {
    const roots = await reader.readHeader()
    let blocks = 0
    let bytes = 0
    for (let block = await reader.next(); block !== undefined; block = await reader.next()) {
      options.signal?.throwIfAborted()
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
