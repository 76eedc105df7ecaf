import type { ImportCandidate as UnixfsCandidate, ImporterOptions, ImportResult } from 'ipfs-unixfs-importer'
import { importer } from 'ipfs-unixfs-importer'
import * as dagPb from '@ipld/dag-pb'
import { type Mtime, UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import type { BlockSink } from './blockstore.ts'
import { assertSafeName } from './cid-path.ts'
import { PinfoldError } from './errors.ts'
import { fastBufferImporter } from './fast-leaves.ts'
import type { ProgressEvent, ProgressOptions } from './options.ts'
import { importerOptions, type LayoutOptions } from './profiles.ts'
import { dagPbLeafImporter } from './single-leaf-fix.ts'

export interface ImportOptions extends LayoutOptions, ProgressOptions<ImportProgressEvent> {
  /** Store each candidate's `mtime` (ignored when false, the default, as `ipfs add`). */
  preserveMtime?: boolean
  /** Store each candidate's `mode` (ignored when false, the default). */
  preserveMode?: boolean
  /** Wrap everything in one extra directory whose entry (path '') is yielded last. */
  wrapWithDirectory?: boolean
  /**
   * Import one candidate at a time: each file's content is read to its end before the next
   * candidate is requested. Needed when candidates come one after another from one stream
   * (multipart parts): by default the importer collects up to 50 candidates before reading
   * any content, which would wait forever for a part that cannot arrive before the previous
   * one is read. Leaves of one file are still hashed and written concurrently.
   */
  sequential?: boolean
}

/** Bytes read so far for one file (cumulative). */
export type ImportProgressEvent = ProgressEvent<'import:bytes', { path: string; bytes: number }>

export interface ImportedEntry {
  path: string
  cid: CID
  /** UnixFS file size for files; cumulative DAG size for directories (as `ipfs add` prints). */
  size: bigint
  type: 'file' | 'directory'
}

export interface ImportCandidate {
  /** Relative path with `/` separators; segments must not be empty, `.` or `..`. */
  path: string
  /** No content means a directory. */
  content?: AsyncIterable<Uint8Array> | Uint8Array
  mtime?: Date
  mode?: number
}

/**
 * Imports files and directories into `sink`, yielding each file and directory as Kubo's
 * `ipfs add` reports them (files as they finish, directories after their contents).
 *
 * Durability: top-level entries (roots, and the wrapper with `wrapWithDirectory`) are
 * held back until `sink.flush()` resolved, so every yielded root is durable; nested
 * entries are yielded as soon as built and become durable with that same flush.
 * Candidates are consumed lazily and files imported with bounded concurrency by the
 * importer; stopping the iteration early stops reading candidates (nothing is flushed).
 * Throws `UnsafePathError` for a path with `..`, `.` or empty segments.
 */
export async function* importEntries(
  entries: AsyncIterable<ImportCandidate> | Iterable<ImportCandidate>,
  sink: BlockSink,
  options: ImportOptions = {},
): AsyncGenerator<ImportedEntry> {
  const roots: ImportedEntry[] = []
  // Directory candidates not yet reported: the importer never yields a childless one.
  const pendingDirs = new Map<string, { mtime?: Mtime; mode?: number }>()
  const candidates = toUnixfsCandidates(entries, options, pendingDirs)
  const route = function* (entry: ImportedEntry): Generator<ImportedEntry> {
    if (entry.path.includes('/')) yield entry
    else roots.push(entry)
  }
  for await (const result of runImporter(candidates, sink, options)) {
    const entry = toImportedEntry(result)
    if (entry.type === 'directory') pendingDirs.delete(entry.path)
    yield* route(entry)
  }
  for (const [path, meta] of pendingDirs) yield* route(await emptyDirectoryEntry(path, meta, options))
  await sink.flush(options)
  yield* roots
}

/**
 * The entry of a childless directory, computed exactly as the importer's dir builder
 * does (it has already stored the block; we only need to report it, as `ipfs add`).
 */
async function emptyDirectoryEntry(
  path: string,
  meta: { mtime?: Mtime; mode?: number },
  options: ImportOptions,
): Promise<ImportedEntry> {
  const unixfs = new UnixFS({ type: 'directory', mtime: meta.mtime, mode: meta.mode })
  const block = dagPb.encode(dagPb.prepare({ Data: unixfs.marshal() }))
  const version = importerOptions(options).cidVersion ?? (options.profile === 'v1-2025' ? 1 : 0)
  const cid = CID.create(version, dagPb.code, await sha256.digest(block))
  return { path, cid, size: BigInt(block.byteLength), type: 'directory' }
}

/**
 * Imports one stream of bytes as a file and returns its entry (path = the CID string).
 * The sink is flushed before the promise resolves.
 */
export async function importBytes(
  content: AsyncIterable<Uint8Array> | Uint8Array,
  sink: BlockSink,
  options: ImportOptions = {},
): Promise<ImportedEntry> {
  let last: ImportResult | undefined
  for await (const result of runImporter([{ content } as UnixfsCandidate], sink, { ...options, wrapWithDirectory: false })) last = result
  if (last === undefined) throw new PinfoldError('ERR_IMPORT_FAILED', 'importer produced no entry')
  await sink.flush(options)
  return toImportedEntry(last)
}

/** Leaves in flight per file (importer default 10): enough to keep the thread pool busy. */
const BLOCK_WRITE_CONCURRENCY = 16

function runImporter(
  candidates: AsyncIterable<UnixfsCandidate> | Iterable<UnixfsCandidate>,
  sink: BlockSink,
  options: ImportOptions,
): AsyncGenerator<ImportResult> {
  const layout = importerOptions(options)
  const opts: ImporterOptions = {
    ...layout,
    wrapWithDirectory: options.wrapWithDirectory ?? false,
    // the importer batches this many candidates before starting any of them
    ...(options.sequential === true ? { fileImportConcurrency: 1 } : {}),
    onProgress: (event) => {
      if (event.type !== 'unixfs:importer:progress:file:read' || options.onProgress === undefined) return
      const detail = event.detail as { bytesRead: bigint; path?: string }
      options.onProgress({ type: 'import:bytes', detail: { path: detail.path ?? '', bytes: Number(detail.bytesRead) } })
    },
  }
  const rawLeaves = layout.rawLeaves ?? options.profile === 'v1-2025'
  const cidVersion = layout.cidVersion ?? (options.profile === 'v1-2025' ? 1 : 0)
  if (!rawLeaves && (options.preserveMtime === true || options.preserveMode === true)) {
    opts.bufferImporter = dagPbLeafImporter(cidVersion)
  } else {
    opts.bufferImporter = fastBufferImporter({ cidVersion, rawLeaves })
  }
  // Leaves of one file hashed (thread pool) and written concurrently; results stay in order.
  opts.blockWriteConcurrency = BLOCK_WRITE_CONCURRENCY
  // The importer only needs `put`; our sink's signature is compatible (the CID it returns is unused).
  const store = {
    // The importer takes no signal; checking here and per candidate stops it promptly.
    put: async (cid: CID, bytes: Uint8Array) => {
      options.signal?.throwIfAborted()
      await sink.put(cid, bytes, options)
      return cid
    },
  }
  return importer(candidates, store as unknown as Parameters<typeof importer>[1], opts)
}

async function* toUnixfsCandidates(
  entries: AsyncIterable<ImportCandidate> | Iterable<ImportCandidate>,
  options: ImportOptions,
  directories: Map<string, { mtime?: Mtime; mode?: number }>,
): AsyncGenerator<UnixfsCandidate> {
  for await (const entry of entries) {
    options.signal?.throwIfAborted()
    const path = normalisePath(entry.path)
    const meta: { mtime?: Mtime; mode?: number } = {}
    if (options.preserveMtime === true && entry.mtime !== undefined) meta.mtime = toMtime(entry.mtime)
    if (options.preserveMode === true && entry.mode !== undefined) meta.mode = entry.mode & 0o7777
    if (entry.content === undefined) {
      directories.set(path, meta)
      yield { path, ...meta }
    } else {
      yield { path, content: entry.content, ...meta }
    }
  }
}

/** Strips leading `/` and `./` (as `ipfs add` does for relative names) and refuses escapes. */
function normalisePath(path: string): string {
  const trimmed = path.replace(/^(\.?\/)+/, '')
  for (const segment of trimmed.split('/')) assertSafeName(segment)
  return trimmed
}

function toMtime(date: Date): Mtime {
  const ms = date.getTime()
  const secs = Math.floor(ms / 1000)
  return { secs: BigInt(secs), nsecs: (ms - secs * 1000) * 1_000_000 }
}

function toImportedEntry(result: ImportResult): ImportedEntry {
  const kind = result.unixfs?.type
  const isDir = kind === 'directory' || kind === 'hamt-sharded-directory'
  return {
    path: result.path ?? result.cid.toString(),
    cid: result.cid,
    size: isDir || result.unixfs === undefined ? result.size : result.unixfs.fileSize(),
    type: isDir ? 'directory' : 'file',
  }
}
