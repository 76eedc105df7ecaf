import type { CID } from 'multiformats/cid'
import { type AbortOptions, type BlockSource, isIdentityCid, withIdentity } from '../../core/index.ts'

/** A block to visit and caller-defined context (e.g. its byte offset in a file). */
export interface WalkItem<T> {
  cid: CID
  context: T
}

/** Decides which children of a visited block are visited next, in order. */
export type ChildSelector<T> = (item: WalkItem<T>, bytes: Uint8Array) => WalkItem<T>[]

export interface SelectiveWalkOptions extends AbortOptions {
  /** CIDs already sent (shared across walks of one response); updated as blocks are yielded. */
  emitted: Set<string>
  /** `true`: a block is yielded at every occurrence (`dups=y`); `false`: once. */
  dups: boolean
  /** The root's bytes when the caller already read them (not read again). */
  rootBytes?: Uint8Array
}

/**
 * Depth-first, pre-order walk from `root` following only the children `select` picks:
 * parent before children, children in the order given. Identity blocks are traversed
 * but never yielded (their bytes live in the CID). Memory: the pending stack (depth ×
 * fan-out CIDs) and `emitted`, never block bytes beyond the current one.
 * A missing block rejects with the source's `BlockNotFoundError`.
 */
export async function* selectiveWalk<T>(
  source: BlockSource,
  root: WalkItem<T>,
  select: ChildSelector<T>,
  options: SelectiveWalkOptions,
): AsyncGenerator<{ cid: CID; bytes: Uint8Array }> {
  const store = withIdentity(source)
  const stack: WalkItem<T>[] = [root]
  let rootBytes = options.rootBytes
  while (stack.length > 0) {
    options.signal?.throwIfAborted()
    const item = stack.pop() as WalkItem<T>
    const key = item.cid.toString()
    if (!options.dups && options.emitted.has(key)) continue
    options.emitted.add(key)
    const bytes = item === root && rootBytes !== undefined ? rootBytes : await store.get(item.cid, options)
    rootBytes = undefined
    const children = select(item, bytes)
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i] as WalkItem<T>)
    if (!isIdentityCid(item.cid)) yield { cid: item.cid, bytes }
  }
}
