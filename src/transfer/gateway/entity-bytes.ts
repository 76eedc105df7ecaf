import type { EntityBytes } from './car-options.ts'
import type { ChildSelector } from './dag-walk.ts'
import { RangeOutsideEntityError } from './gateway-error.ts'
import { decodePbNode } from './unixfs-node.ts'

/** An inclusive byte span `[first, last]` inside an entity. */
export interface ByteSpan {
  first: number
  last: number
}

/**
 * Resolves `entity-bytes` against an entity of `size` bytes: negative bounds count from
 * the end, `to` is clipped at the last byte. Returns `undefined` for a zero-length
 * result (the response is then equivalent to `dag-scope=block`) and throws
 * {@link RangeOutsideEntityError} when `from` starts past the end (400 up front).
 */
export function resolveEntityBytes(bytes: EntityBytes, size: number): ByteSpan | undefined {
  if (size === 0) return undefined
  const first = bytes.from < 0 ? Math.max(0, size + bytes.from) : bytes.from
  if (first >= size) {
    throw new RangeOutsideEntityError(`entity-bytes start ${bytes.from} is beyond the entity's ${size} bytes`)
  }
  const last = bytes.to === undefined ? size - 1 : bytes.to < 0 ? size + bytes.to : Math.min(bytes.to, size - 1)
  return last < first ? undefined : { first, last }
}

/**
 * Child selector for a UnixFS file DAG that keeps only the children whose bytes overlap
 * `span`. The walk context is the file offset where a node's content starts; a node's
 * own `Data` bytes come first, then each child in turn sized by `blocksizes`.
 * Raw leaves have no children.
 */
export function byteSpanSelector(span: ByteSpan): ChildSelector<number> {
  return (item, bytes) => {
    const decoded = decodePbNode(item.cid, bytes)
    if (decoded?.unixfs === undefined) return []
    const { node, unixfs } = decoded
    let offset = item.context + (unixfs.data?.byteLength ?? 0)
    const children: { cid: (typeof node.Links)[number]['Hash']; context: number }[] = []
    node.Links.forEach((link, index) => {
      const size = Number(unixfs.blockSizes[index] ?? 0n)
      const start = offset
      offset += size
      if (size > 0 && start <= span.last && start + size - 1 >= span.first) children.push({ cid: link.Hash, context: start })
    })
    return children
  }
}
