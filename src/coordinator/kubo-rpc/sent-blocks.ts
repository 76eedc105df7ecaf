import type { CID } from 'multiformats/cid'
import { type BlockSink, blockLinks, isIdentityCid } from '../../core/index.ts'
import { DagIncompleteError } from '../../repo/index.ts'
import { badArgument } from './rpc-protocol.ts'

/** Blocks one request may send and have checked: ~100 bytes of memory each. */
const MAX_SENT_BLOCKS = 1_000_000

/**
 * The blocks one Kubo RPC request sent (the CARs of a `dag/import`, the parts of a
 * `block/put`), keyed by multihash as the repo keys them, with the links of those that have
 * any. Pinning a root grants reading its whole DAG, so a root is pinned for the caller only
 * when every block under it was sent in this request or lies in a DAG the caller already
 * holds: a CAR whose header names a root it does not contain, or a crafted block linking to
 * someone else's CID, grants nothing (issue 9 item 1). Not safe for concurrent requests:
 * one instance per request.
 */
export class SentBlocks {
  readonly #sent = new Set<string>()
  readonly #links = new Map<string, CID[]>()

  /** Records a block the request sent (verified against its CID by the caller). */
  record(cid: CID, bytes: Uint8Array): void {
    const key = keyOf(cid)
    if (this.#sent.has(key)) return
    if (this.#sent.size >= MAX_SENT_BLOCKS) throw badArgument(`a request may send at most ${MAX_SENT_BLOCKS} blocks`)
    this.#sent.add(key)
    const links = blockLinks(cid, bytes)
    if (links.length > 0) this.#links.set(key, links)
  }

  /** `sink` recording every block put into it. */
  recording(sink: BlockSink): BlockSink {
    return {
      put: async (cid, bytes, options) => {
        this.record(cid, bytes)
        await sink.put(cid, bytes, options)
      },
      flush: (options) => sink.flush(options),
    }
  }

  /**
   * Resolves when the caller may pin `root`: each block of its DAG was sent, or `holds` says
   * the caller holds a DAG containing it (then its subtree is not walked). Otherwise rejects
   * with the `ERR_DAG_INCOMPLETE` the repo gives for a block it lacks, naming the first
   * block not sent, so content someone else stores looks exactly like absent content.
   */
  async assertGrantable(root: CID, holds: (cid: CID) => Promise<boolean>): Promise<void> {
    const seen = new Set<string>()
    const pending = [root]
    for (let cid = pending.pop(); cid !== undefined; cid = pending.pop()) {
      const key = keyOf(cid)
      if (seen.has(key)) continue
      seen.add(key)
      if (isIdentityCid(cid)) {
        // its bytes are in the CID, but a dag-pb identity node can still link elsewhere
        pending.push(...blockLinks(cid, cid.multihash.digest))
        continue
      }
      if (!this.#sent.has(key)) {
        if (await holds(cid)) continue
        throw new DagIncompleteError(root, cid)
      }
      for (const link of this.#links.get(key) ?? []) pending.push(link)
    }
  }
}

function keyOf(cid: CID): string {
  return Buffer.from(cid.multihash.bytes).toString('latin1')
}
