import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { BufferImporter } from 'ipfs-unixfs-importer'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'

/**
 * Work-around for ipfs-unixfs-importer 17.1: with dag-pb leaves (rawLeaves false) and
 * mtime/mode, a single-chunk file's metadata node wraps the *encoded leaf block* as its
 * data, so `cat` returns protobuf bytes. This buffer importer is the library's default,
 * except that it reports the chunk's plain bytes as `block`, which is what that code
 * path wraps. CIDs are unchanged in every other case (the block is stored as before).
 * Used only for dag-pb leaves with metadata.
 */
export function dagPbLeafImporter(cidVersion: 0 | 1): BufferImporter {
  return async function* bufferImporter(file, blockstore) {
    for await (const chunk of file.content) {
      yield async () => {
        const unixfs = new UnixFS({ type: 'file', data: chunk })
        const block = dagPb.encode({ Data: unixfs.marshal(), Links: [] })
        const cid = CID.create(cidVersion, dagPb.code, await sha256.digest(block))
        await blockstore.put(cid, block)
        return { cid, unixfs, size: BigInt(block.byteLength), block: chunk }
      }
    }
  }
}
