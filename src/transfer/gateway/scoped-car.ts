import * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { type AbortOptions, type BlockSource, blockLinks, isIdentityCid, PinfoldError, withIdentity } from '../../core/index.ts'
import type { CarOptions } from './car-options.ts'
import { type ChildSelector, type SelectiveWalkOptions, selectiveWalk } from './dag-walk.ts'
import { byteSpanSelector, resolveEntityBytes } from './entity-bytes.ts'
import { decodePbNode, hamtPrefixLength } from './unixfs-node.ts'

type Block = { cid: CID; bytes: Uint8Array }

/** `dag-scope=block`: the terminal block alone. */
const noChildren: ChildSelector<number> = () => []

/** `dag-scope=all`: every link of every block. */
const allLinks: ChildSelector<number> = (item, bytes) => blockLinks(item.cid, bytes).map((cid) => ({ cid, context: 0 }))

/**
 * `dag-scope=entity`: what is needed to read a whole UnixFS file (all its blocks) or
 * enumerate a directory (its block; for a HAMT, every shard block but none of the
 * entries' blocks). Anything else (symlink, non-UnixFS data) is the block alone.
 * Decided per node: under a file every node is a file node, under a shard every
 * followed node is a shard, so no context is needed.
 */
const entityLinks: ChildSelector<number> = (item, bytes) => {
  const unixfs = decodePbNode(item.cid, bytes)
  if (unixfs?.unixfs === undefined) return []
  const { node } = unixfs
  switch (unixfs.unixfs.type) {
    case 'file':
    case 'raw':
      return node.Links.map((link) => ({ cid: link.Hash, context: 0 }))
    case 'hamt-sharded-directory': {
      const prefix = hamtPrefixLength(unixfs.unixfs.fanout ?? 256n)
      // A link named by the bucket prefix alone points at a sub-shard; longer names are entries.
      return node.Links.filter((link) => link.Name?.length === prefix).map((link) => ({ cid: link.Hash, context: 0 }))
    }
    default:
      return []
  }
}

/** Where a CAR's terminal entity sits: the blocks leading to it, then the entity itself. */
export interface CarTarget {
  /** Blocks needed to verify the path segments, in order, without the terminal block. */
  pathBlocks: readonly CID[]
  /** The CID at the end of the path. */
  terminal: CID
}

/**
 * Plans the blocks of a CAR response: the path blocks first (needed to verify each
 * segment), then the terminal entity's DAG in the requested scope, depth-first.
 *
 * Reads the terminal block and runs every check that can fail before streaming, so the
 * caller can still answer with a status: a missing terminal block (`BlockNotFoundError`,
 * 404), an unsupported codec for `dag-scope=all` (501), `entity-bytes` entirely past the
 * end (400). The returned generator reads the rest lazily; a block missing mid-stream
 * rejects it after the blocks before it were yielded.
 */
export async function planScopedCar(
  source: BlockSource,
  target: CarTarget,
  car: CarOptions,
  options: AbortOptions = {},
): Promise<AsyncGenerator<Block>> {
  const terminalBytes = await withIdentity(source).get(target.terminal, options)
  const select = terminalSelector(target.terminal, terminalBytes, car)
  return streamScopedCar(source, target, terminalBytes, select, car, options)
}

async function* streamScopedCar(
  source: BlockSource,
  target: CarTarget,
  terminalBytes: Uint8Array,
  select: ChildSelector<number>,
  car: CarOptions,
  options: AbortOptions,
): AsyncGenerator<Block> {
  const store = withIdentity(source)
  const emitted = new Set<string>()
  for (const cid of target.pathBlocks) {
    emitted.add(cid.toString())
    yield { cid, bytes: await store.get(cid, options) }
  }
  const root = { cid: target.terminal, context: 0 }
  // the terminal block was read to plan the response: it is not read twice
  const walk: SelectiveWalkOptions = { emitted, dups: car.dups, rootBytes: terminalBytes }
  if (options.signal !== undefined) walk.signal = options.signal
  yield* selectiveWalk(source, root, select, walk)
}

function terminalSelector(cid: CID, bytes: Uint8Array, car: CarOptions): ChildSelector<number> {
  switch (car.scope) {
    case 'block':
      return noChildren
    case 'all':
      assertWalkable(cid)
      return allLinks
    case 'entity': {
      const size = car.entityBytes === undefined ? undefined : byteEntitySize(cid, bytes)
      if (car.entityBytes === undefined || size === undefined) return entityLinks
      const span = resolveEntityBytes(car.entityBytes, size)
      return span === undefined ? noChildren : byteSpanSelector(span)
    }
  }
}

/**
 * The byte length of an entity that is a continuous array of bytes (raw or identity
 * block, UnixFS file), or `undefined` for anything else (entity-bytes is then ignored).
 */
function byteEntitySize(cid: CID, bytes: Uint8Array): number | undefined {
  if (cid.code === raw.code) return bytes.byteLength
  const decoded = decodePbNode(cid, bytes)
  const type = decoded?.unixfs?.type
  if (type !== 'file' && type !== 'raw') return undefined
  return Number(decoded?.unixfs?.fileSize() ?? 0n)
}

/** Only dag-pb, raw and identity DAGs can be walked for `dag-scope=all`. */
function assertWalkable(cid: CID): void {
  if (cid.code === dagPb.code || cid.code === raw.code || isIdentityCid(cid)) return
  throw new PinfoldError('ERR_UNSUPPORTED_CODEC', `cannot walk the DAG of codec 0x${cid.code.toString(16)} (${cid})`, {
    userError: true,
  })
}
