import { chmod, mkdir, open, utimes } from 'node:fs/promises'
import { join } from 'node:path'
import { exporter, type UnixFSEntry } from 'ipfs-unixfs-exporter'
import type { BlockSource } from './blockstore.ts'
import { assertSafeName } from './cid-path.ts'
import { mapExporterError, toExporterStorage } from './exporter-adapter.ts'
import { fileContent } from './file-content.ts'
import type { ProgressEvent, ProgressOptions } from './options.ts'
import { type DagEntry, resolveEntry, toDagEntry } from './resolve.ts'

/** Emitted after each file is written. */
export type ExportProgressEvent = ProgressEvent<'export:file', { path: string; bytes: number }>

export interface ExportToDirectoryOptions extends ProgressOptions<ExportProgressEvent> {
  /** Restore stored mtimes on files and directories. */
  preserveMtime?: boolean
  /** Restore stored permission bits (setuid/setgid/sticky are never restored). */
  preserveMode?: boolean
}

export interface ExportResult {
  files: number
  directories: number
  bytes: number
}

/** What the walk reads through: the exporter for directories, the source for file bytes. */
interface ExportIo {
  storage: ReturnType<typeof toExporterStorage>
  source: BlockSource
}

/**
 * Writes the DAG at `cidPath` to disk.
 *
 * - A directory root is written AS `outDir` (created if missing; its children become
 *   `outDir/<name>`), like `ipfs get CID -o outDir`.
 * - A file root is written to `outDir/<name>`, where name is the last path segment, or
 *   the CID string when `cidPath` is a bare CID. `outDir` is always a directory.
 *
 * Safety (CVE-2020-26279): every entry name of a directory is checked before any of
 * that directory's children is written; `..`, `.`, empty, or names containing `/`, `\`
 * or NUL reject with `UnsafePathError`, so nothing is ever written outside `outDir`.
 * Files are created with O_EXCL (never overwriting or following an existing file or
 * symlink); symlink nodes are skipped, not created. Existing directories are reused.
 * Sequential, depth-first; directory mtimes are set after their contents are written.
 */
export async function exportToDirectory(
  source: BlockSource,
  cidPath: string,
  outDir: string,
  options: ExportToDirectoryOptions = {},
): Promise<ExportResult> {
  const { entry, path } = await resolveEntry(source, cidPath, options)
  const io: ExportIo = { storage: toExporterStorage(source), source }
  const totals: ExportResult = { files: 0, directories: 0, bytes: 0 }
  try {
    if (entry.type === 'directory') {
      await writeDirectory(entry, path, outDir, io, options, totals)
    } else {
      await mkdir(outDir, { recursive: true })
      const name = path.includes('/') ? entry.name : entry.cid.toString()
      assertSafeName(name)
      await writeNode(entry, path, join(outDir, name), io, options, totals)
    }
  } catch (err) {
    throw mapExporterError(err, path)
  }
  return totals
}

async function writeNode(
  entry: UnixFSEntry,
  path: string,
  target: string,
  io: ExportIo,
  options: ExportToDirectoryOptions,
  totals: ExportResult,
): Promise<void> {
  options.signal?.throwIfAborted()
  if (entry.type === 'directory') {
    if (entry.unixfs.type !== 'symlink') await writeDirectory(entry, path, target, io, options, totals)
  } else if (entry.type === 'file' || entry.type === 'raw' || entry.type === 'identity') {
    if (entry.type === 'file' && entry.unixfs.type === 'symlink') return
    await writeFile(entry, path, target, io.source, options, totals)
  }
  // dag-cbor/json objects have no file form: skipped.
}

async function writeDirectory(
  entry: Extract<UnixFSEntry, { type: 'directory' }>,
  path: string,
  target: string,
  io: ExportIo,
  options: ExportToDirectoryOptions,
  totals: ExportResult,
): Promise<void> {
  // Validate every name first, so a hostile directory writes none of its children.
  const children = []
  for await (const child of entry.entries()) {
    assertSafeName(child.name)
    children.push(child)
  }
  await mkdir(target, { recursive: true })
  totals.directories++
  for (const child of children) {
    options.signal?.throwIfAborted()
    const childEntry = await exporter(child.cid, io.storage)
    await writeNode(childEntry, `${path}/${child.name}`, join(target, child.name), io, options, totals)
  }
  await restoreMetadata(toDagEntry(entry, path), target, options)
}

async function writeFile(
  entry: Exclude<UnixFSEntry, { type: 'directory' | 'object' }>,
  path: string,
  target: string,
  source: BlockSource,
  options: ExportToDirectoryOptions,
  totals: ExportResult,
): Promise<void> {
  const handle = await open(target, 'wx')
  let written = 0
  try {
    for await (const chunk of fileContent(source, entry, { offset: 0, length: Number(entry.size) }, options)) {
      await handle.write(chunk)
      written += chunk.byteLength
    }
  } finally {
    await handle.close()
  }
  totals.files++
  totals.bytes += written
  options.onProgress?.({ type: 'export:file', detail: { path, bytes: written } })
  await restoreMetadata(toDagEntry(entry, path), target, options)
}

async function restoreMetadata(meta: DagEntry, target: string, options: ExportToDirectoryOptions): Promise<void> {
  if (options.preserveMode === true && meta.mode !== undefined) await chmod(target, meta.mode & 0o777)
  if (options.preserveMtime === true && meta.mtime !== undefined) await utimes(target, meta.mtime, meta.mtime)
}
