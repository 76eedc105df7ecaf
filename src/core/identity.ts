import type { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import type { BlockSource } from './blockstore.ts'
import type { AbortOptions } from './options.ts'

/** True when the CID carries its bytes inline (identity multihash): no store holds it. */
export function isIdentityCid(cid: CID): boolean {
  return cid.multihash.code === identity.code
}

/**
 * Wraps a source so identity CIDs (e.g. `bafkqaaa`) resolve from the CID itself,
 * without a store lookup: stores never receive them, yet every reader must answer them.
 */
export function withIdentity(source: BlockSource): BlockSource {
  return {
    async get(cid: CID, options?: AbortOptions): Promise<Uint8Array> {
      if (isIdentityCid(cid)) return cid.multihash.digest
      return source.get(cid, options)
    },
    async has(cid: CID, options?: AbortOptions): Promise<boolean> {
      if (isIdentityCid(cid)) return true
      return source.has(cid, options)
    },
  }
}
