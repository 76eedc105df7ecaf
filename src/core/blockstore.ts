import type { CID } from 'multiformats/cid'
import type { AbortOptions } from './options.ts'

/**
 * Where blocks are written.
 *
 * - `put` is idempotent: putting a block that is already present is a no-op.
 * - Implementations may buffer; a block is durable only after `flush` resolves.
 * - Safe to call concurrently; `flush` makes every `put` that resolved before it durable.
 * - Callers pass bytes that already hash to `cid` (the importer computed it); stores
 *   fed from untrusted sources verify first (see `core/verify-block`).
 */
export interface BlockSink {
  put(cid: CID, bytes: Uint8Array, options?: AbortOptions): Promise<void>
  flush(options?: AbortOptions): Promise<void>
}

/**
 * Where blocks are read from.
 *
 * - `get` rejects with `BlockNotFoundError` (code `ERR_BLOCK_NOT_FOUND`) when absent.
 * - Blocks are addressed by multihash: a CIDv0 and a CIDv1 with the same multihash
 *   name the same bytes.
 * - Safe to call concurrently with each other and with `put`.
 */
export interface BlockSource {
  get(cid: CID, options?: AbortOptions): Promise<Uint8Array>
  has(cid: CID, options?: AbortOptions): Promise<boolean>
}

/** A readable and writable block store. */
export interface Blockstore extends BlockSink, BlockSource {}
