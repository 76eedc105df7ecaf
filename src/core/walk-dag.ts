import type { CID } from 'multiformats/cid'
import { blockLinks } from './block-links.ts'
import type { BlockSource } from './blockstore.ts'
import { isIdentityCid, withIdentity } from './identity.ts'
import type { AbortOptions } from './options.ts'

/**
 * Walks the DAG under `root` depth-first, pre-order: a parent is yielded before its
 * children, children in link order, and each distinct CID once (later links to a CID
 * already yielded are skipped, so shared subtrees cost one visit).
 *
 * Identity CIDs are traversed (their links followed) but not yielded: their bytes live
 * in the CID, so no store or CAR needs them. Memory grows with the number of distinct
 * CIDs and the depth × fan-out of the pending stack, never with block bytes.
 * A missing block rejects with `BlockNotFoundError` from the source.
 */
export async function* walkDag(
  source: BlockSource,
  root: CID,
  options: AbortOptions = {},
): AsyncGenerator<{ cid: CID; bytes: Uint8Array }> {
  const store = withIdentity(source)
  const seen = new Set<string>()
  // Stack of pending CIDs; children pushed in reverse so the first link pops first.
  const stack: CID[] = [root]
  while (stack.length > 0) {
    options.signal?.throwIfAborted()
    const cid = stack.pop() as CID
    const key = cid.toString()
    if (seen.has(key)) continue
    seen.add(key)
    const bytes = await store.get(cid, options)
    const links = blockLinks(cid, bytes)
    for (let i = links.length - 1; i >= 0; i--) stack.push(links[i] as CID)
    if (!isIdentityCid(cid)) yield { cid, bytes }
  }
}
