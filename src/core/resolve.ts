import * as dagPb from '@ipld/dag-pb'
import { exporter, type UnixFSEntry } from 'ipfs-unixfs-exporter'
import type { CID } from 'multiformats/cid'
import type { BlockSource } from './blockstore.ts'
import { parseCidPath } from './cid-path.ts'
import { InvalidOptionError, PinfoldError } from './errors.ts'
import { mapExporterError, toExporterStorage } from './exporter-adapter.ts'
import { fileContent } from './file-content.ts'
import { isIdentityCid } from './identity.ts'
import type { AbortOptions } from './options.ts'

/** One node of a DAG as seen by readers (`stat`, `ls`, export). */
export interface DagEntry {
  name: string
  /** `CID/a/b` form: the root CID followed by the segments walked. */
  path: string
  cid: CID
  type: 'file' | 'directory' | 'raw' | 'symlink' | 'identity' | 'object'
  /** File size for files/raw/identity; cumulative DAG size for directories and objects. */
  size: bigint
  mtime?: Date
  /** Permission bits, only when stored and different from the UnixFS default. */
  mode?: number
}

/**
 * Resolves `cidPath` (`CID`, `CID/a/b`, `/ipfs/CID/a`) to the exporter's entry.
 * Throws `PathNotFoundError`, `BlockNotFoundError`, `UnsafePathError`, `InvalidCidError`.
 */
export async function resolveEntry(
  source: BlockSource,
  cidPath: string,
  options: AbortOptions = {},
): Promise<{ entry: UnixFSEntry; path: string }> {
  const { cid, segments } = parseCidPath(cidPath)
  const path = [cid.toString(), ...segments].join('/')
  options.signal?.throwIfAborted()
  try {
    // signals are checked here, never handed to the exporter (see `cat` below)
    return { entry: await exporter(path, toExporterStorage(source)), path }
  } catch (err) {
    throw mapExporterError(err, path)
  }
}

/** Describes the node at `cidPath`. Reads only the blocks on the path. */
export async function stat(source: BlockSource, cidPath: string, options: AbortOptions = {}): Promise<DagEntry> {
  const { entry, path } = await resolveEntry(source, cidPath, options)
  return toDagEntry(entry, path)
}

/**
 * Lists a directory's children in link order (for a HAMT-sharded directory: shard
 * order), each resolved to its type, one child at a time. A non-directory rejects with
 * `PinfoldError` `ERR_NOT_A_DIRECTORY`.
 */
export async function* ls(source: BlockSource, cidPath: string, options: AbortOptions = {}): AsyncGenerator<DagEntry> {
  const { entry, path } = await resolveEntry(source, cidPath, options)
  if (entry.type !== 'directory') {
    throw new PinfoldError('ERR_NOT_A_DIRECTORY', `not a directory: ${path}`, { userError: true })
  }
  const storage = toExporterStorage(source)
  try {
    for await (const child of entry.entries()) {
      options.signal?.throwIfAborted()
      const childEntry = await exporter(child.cid, storage)
      yield toDagEntry(childEntry, `${path}/${child.name}`, child.name)
    }
  } catch (err) {
    throw mapExporterError(err, path)
  }
}

/**
 * Streams a file's bytes (UnixFS file, raw or identity block), optionally a range:
 * `offset` must be within the file, `length` is clipped at its end. Anything else
 * rejects with `PinfoldError` `ERR_NOT_A_FILE`. Chunks arrive in file order.
 */
export async function* cat(
  source: BlockSource,
  cidPath: string,
  options: AbortOptions & { offset?: number; length?: number } = {},
): AsyncGenerator<Uint8Array> {
  const { entry, path } = await resolveEntry(source, cidPath, options)
  if (entry.type !== 'file' && entry.type !== 'raw' && entry.type !== 'identity') {
    throw new PinfoldError('ERR_NOT_A_FILE', `not a file: ${path}`, { userError: true })
  }
  if (entry.type === 'file' && entry.unixfs.type === 'symlink') {
    throw new PinfoldError('ERR_NOT_A_FILE', `not a file (symlink): ${path}`, { userError: true })
  }
  const range = checkRange(entry.size, options.offset, options.length)
  yield* fileContent(source, entry, range, options)
}

function checkRange(size: bigint, offset = 0, length?: number): { offset: number; length: number } {
  const total = Number(size)
  if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidOptionError('offset must be a non-negative integer')
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
    throw new InvalidOptionError('length must be a non-negative integer')
  }
  if (offset > total) throw new InvalidOptionError(`offset ${offset} is beyond the end of the file (${total} bytes)`)
  return { offset, length: Math.min(length ?? total - offset, total - offset) }
}

/** Converts the exporter's view of a node into a {@link DagEntry}. */
export function toDagEntry(entry: UnixFSEntry, path: string, name = entry.name): DagEntry {
  const base = { name, path, cid: entry.cid }
  switch (entry.type) {
    case 'file':
    case 'directory': {
      const unixfs = entry.unixfs
      const type = unixfs.type === 'symlink' ? 'symlink' : entry.type
      const result: DagEntry = { ...base, type, size: type === 'directory' ? cumulativeSize(entry.node) : entry.size }
      if (unixfs.mtime !== undefined) {
        result.mtime = new Date(Number(unixfs.mtime.secs) * 1000 + Math.floor((unixfs.mtime.nsecs ?? 0) / 1e6))
      }
      const defaultMode = unixfs.isDirectory() ? 0o755 : 0o644
      if (unixfs.mode !== undefined && unixfs.mode !== defaultMode) result.mode = unixfs.mode
      return result
    }
    case 'raw':
    case 'identity':
      // The exporter names by codec; an inline (identity-hash) raw block is reported as identity.
      return { ...base, type: isIdentityCid(entry.cid) ? 'identity' : entry.type, size: entry.size }
    default:
      return { ...base, type: 'object', size: BigInt(entry.node.byteLength) }
  }
}

/** The node's own bytes plus its links' Tsize: what `ipfs add` reports for a directory. */
function cumulativeSize(node: dagPb.PBNode): bigint {
  const own = dagPb.encode(node).byteLength
  return node.Links.reduce((sum, link) => sum + BigInt(link.Tsize ?? 0), BigInt(own))
}
