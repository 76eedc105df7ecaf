import { createHash } from 'node:crypto'

/** Path of a storage node's proof-of-storage route (answered to the coordinator's peer token only). */
export const STORAGE_PROOF_PATH = '/pinfold/v1/storage-proof'
/** Blocks one challenge may name. */
export const MAX_PROOF_BLOCKS = 16

/**
 * The answer to a storage challenge for one block: `sha256(nonce ‖ block bytes)`, hex. The
 * nonce is fresh per challenge, so an answer can only be computed from the bytes themselves
 * at the time of asking (never precomputed or replayed).
 */
export function storageProofDigest(nonce: Uint8Array, bytes: Uint8Array): string {
  return createHash('sha256').update(nonce).update(bytes).digest('hex')
}
