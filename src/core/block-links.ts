import * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { PinfoldError } from './errors.ts'
import { isIdentityCid } from './identity.ts'

/**
 * Child CIDs of one block, in link order (dag-pb), or `[]` for raw and identity blocks.
 * Pure. Throws `PinfoldError` `ERR_UNSUPPORTED_CODEC` for other codecs and
 * `ERR_INVALID_BLOCK` when dag-pb bytes do not decode.
 */
export function blockLinks(cid: CID, bytes: Uint8Array): CID[] {
  if (cid.code === raw.code) return []
  if (cid.code === dagPb.code) {
    // An identity CID with dag-pb codec still carries a (possibly linking) node.
    let node: dagPb.PBNode
    try {
      node = dagPb.decode(bytes)
    } catch (err) {
      throw new PinfoldError('ERR_INVALID_BLOCK', `block ${cid} is not valid dag-pb`, { cause: err, userError: true })
    }
    return node.Links.map((link) => link.Hash)
  }
  if (isIdentityCid(cid)) return []
  throw new PinfoldError('ERR_UNSUPPORTED_CODEC', `unsupported codec 0x${cid.code.toString(16)} in ${cid}`, {
    userError: true,
  })
}
