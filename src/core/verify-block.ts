import type { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import { BlockHashMismatchError, PinfoldError } from './errors.ts'

/**
 * Checks that `bytes` hash to `cid`'s multihash (sha2-256 or identity).
 * Pure and safe to call concurrently. Throws {@link BlockHashMismatchError} on a
 * mismatch and `PinfoldError` `ERR_UNSUPPORTED_HASH` for any other hash function.
 */
export async function verifyBlock(cid: CID, bytes: Uint8Array): Promise<void> {
  const mh = cid.multihash
  let digest: Uint8Array
  if (mh.code === sha256.code) {
    digest = (await sha256.digest(bytes)).digest
  } else if (mh.code === identity.code) {
    digest = bytes
  } else {
    throw new PinfoldError('ERR_UNSUPPORTED_HASH', `unsupported hash function 0x${mh.code.toString(16)} in ${cid}`, {
      userError: true,
    })
  }
  if (!equalBytes(digest, mh.digest)) throw new BlockHashMismatchError(cid)
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
