import type { CID } from 'multiformats/cid'
import { base64 } from 'multiformats/bases/base64'
import type { Blockstore } from './blockstore.ts'
import { BlockNotFoundError } from './errors.ts'
import type { AbortOptions } from './options.ts'

/**
 * An in-memory {@link Blockstore} for tests and short-lived work.
 *
 * Keyed by multihash (not CID), so a CIDv0 and a CIDv1 of the same digest share one entry.
 * `put` is idempotent; `flush` is a no-op (nothing is ever durable); all methods are safe
 * to call concurrently (every operation completes in one synchronous step).
 */
export class MemoryBlockstore implements Blockstore {
  readonly #blocks = new Map<string, Uint8Array>()

  async put(cid: CID, bytes: Uint8Array, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    const key = keyOf(cid)
    // Copy: callers may reuse their buffer after put resolves.
    if (!this.#blocks.has(key)) this.#blocks.set(key, bytes.slice())
  }

  async get(cid: CID, options?: AbortOptions): Promise<Uint8Array> {
    options?.signal?.throwIfAborted()
    const bytes = this.#blocks.get(keyOf(cid))
    if (bytes === undefined) throw new BlockNotFoundError(cid)
    return bytes
  }

  async has(cid: CID, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    return this.#blocks.has(keyOf(cid))
  }

  async flush(options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
  }

  /** Number of distinct blocks held. */
  get size(): number {
    return this.#blocks.size
  }
}

function keyOf(cid: CID): string {
  return base64.baseEncode(cid.multihash.bytes)
}
