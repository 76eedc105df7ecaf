import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import { PinfoldError } from '../../core/index.ts'

/** A dag-pb block decoded, with its UnixFS metadata when it has valid metadata. */
export interface DecodedPbNode {
  node: dagPb.PBNode
  unixfs?: UnixFS
}

/**
 * Decodes a dag-pb block and, when possible, its UnixFS `Data`. Returns `undefined` for
 * other codecs. Throws `PinfoldError` `ERR_INVALID_BLOCK` when dag-pb bytes do not decode;
 * a dag-pb node without valid UnixFS data is returned without `unixfs` (plain IPLD).
 */
export function decodePbNode(cid: CID, bytes: Uint8Array): DecodedPbNode | undefined {
  if (cid.code !== dagPb.code) return undefined
  let node: dagPb.PBNode
  try {
    node = dagPb.decode(bytes)
  } catch (err) {
    throw new PinfoldError('ERR_INVALID_BLOCK', `block ${cid} is not valid dag-pb`, { cause: err })
  }
  if (node.Data === undefined) return { node }
  try {
    return { node, unixfs: UnixFS.unmarshal(node.Data) }
  } catch {
    return { node }
  }
}

/** Length of the hex prefix naming a HAMT bucket for this fan-out (2 for 256). */
export function hamtPrefixLength(fanout: bigint): number {
  return (Number(fanout) - 1).toString(16).length
}
