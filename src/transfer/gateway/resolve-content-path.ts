import { exporter, type ReadableStorage, type UnixFSEntry } from 'ipfs-unixfs-exporter'
import type { CID } from 'multiformats/cid'
import {
  type AbortOptions,
  type BlockSource,
  isIdentityCid,
  PathNotFoundError,
  PinfoldError,
  withIdentity,
} from '../../core/index.ts'

/** A content path resolved down to its terminal entity. */
export interface ResolvedContentPath {
  /** The terminal entity as the UnixFS exporter sees it (content and entries are lazy). */
  entry: UnixFSEntry
  /** Logical roots, one per URL segment: the root CID then each segment's CID (`X-Ipfs-Roots`). */
  roots: CID[]
  /**
   * Every block read to walk from the root to the terminal entity (directory blocks,
   * HAMT shard blocks), in read order, each once, without identity blocks and without
   * the terminal's own block: what a CAR must carry before the terminal's DAG.
   */
  pathBlocks: CID[]
}

/**
 * Resolves `cid` followed by `segments` through UnixFS directories (HAMT shards
 * included), one segment at a time, recording the blocks read on the way.
 * Reads only path blocks and the terminal's root block.
 *
 * Throws `BlockNotFoundError` when a block on the path is missing, `PathNotFoundError`
 * when a segment does not exist (or crosses a file), and `PinfoldError`
 * `ERR_UNSUPPORTED_CODEC`/`ERR_INVALID_DAG` for data the exporter cannot read.
 */
export async function resolveContentPath(
  source: BlockSource,
  cid: CID,
  segments: readonly string[],
  options: AbortOptions = {},
): Promise<ResolvedContentPath> {
  const reads: CID[] = []
  const seen = new Set<string>()
  let recording = true
  const storage = exporterStorage(source, (read) => {
    if (!recording || isIdentityCid(read) || seen.has(read.toString())) return
    seen.add(read.toString())
    reads.push(read)
  })
  const roots: CID[] = [cid]
  let walked = cid.toString()
  try {
    let entry = await exporter(cid, storage, { signal: options.signal })
    for (const segment of segments) {
      walked = `${walked}/${segment}`
      if (entry.type !== 'directory') throw new PathNotFoundError(walked)
      entry = await exporter(`${entry.cid}/${segment}`, storage, { signal: options.signal })
      roots.push(entry.cid)
    }
    recording = false
    const terminal = entry.cid.toString()
    return { entry, roots, pathBlocks: reads.filter((read) => read.toString() !== terminal) }
  } catch (err) {
    throw mapExporterError(err, walked)
  } finally {
    recording = false
  }
}

/**
 * Presents a {@link BlockSource} as the exporter's storage (blocks as one-chunk
 * streams), identity CIDs answered inline, calling `onRead` before each read.
 */
export function exporterStorage(source: BlockSource, onRead: (cid: CID) => void = () => {}): ReadableStorage {
  const store = withIdentity(source)
  return {
    get(cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
      onRead(cid)
      return (async function* () {
        yield await store.get(cid, options)
      })()
    },
  } as ReadableStorage
}

/** Maps the exporter's errors (by their `code`) to Pinfold errors; ours pass through. */
export function mapExporterError(err: unknown, path: string): unknown {
  if (err instanceof PinfoldError) return err
  const code = (err as { code?: unknown } | null)?.code
  if (code === 'ERR_NOT_FOUND' || code === 'ERR_BAD_PATH') return new PathNotFoundError(path)
  if (code === 'ERR_NO_RESOLVER') {
    return new PinfoldError('ERR_UNSUPPORTED_CODEC', `unsupported codec under ${path}`, { cause: err, userError: true })
  }
  if (code === 'ERR_NOT_UNIXFS' || code === 'ERR_INVALID_PARAMS') {
    return new PinfoldError('ERR_INVALID_DAG', `cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  return err
}
