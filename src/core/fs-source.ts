import { createReadStream } from 'node:fs'
import { lstat, readdir } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import type { BlockSink } from './blockstore.ts'
import { PinfoldError } from './errors.ts'
import { type ImportCandidate, type ImportedEntry, type ImportOptions, importEntries } from './import.ts'

/**
 * Largest read when streaming a file: a multiple of every profile's chunk size, so fixed-size
 * chunks are views into the read buffer (no copy); smaller files are read in one go.
 */
const READ_CHUNK_BYTES = 4 * 1024 * 1024

/**
 * Imports files and directories from disk as `ipfs add -r` does: each argument is
 * named by its basename, directories are walked recursively (children in name order),
 * file content is streamed. Symlinks and special files are skipped (not followed).
 * mtime/mode are read only when `preserveMtime`/`preserveMode` ask for them.
 * An unreadable path rejects with `PinfoldError` `ERR_FILE_UNREADABLE` (user error).
 * Yields and flushes exactly like {@link importEntries}.
 */
export function importPaths(fsPaths: string[], sink: BlockSink, options: ImportOptions = {}): AsyncGenerator<ImportedEntry> {
  return importEntries(candidatesFromPaths(fsPaths, options), sink, options)
}

async function* candidatesFromPaths(fsPaths: string[], options: ImportOptions): AsyncGenerator<ImportCandidate> {
  for (const fsPath of fsPaths) {
    const absolute = resolve(fsPath)
    const name = basename(absolute)
    if (name === '') throw unreadable(fsPath, new Error('cannot add the filesystem root'))
    yield* walk(absolute, name, options)
  }
}

async function* walk(fsPath: string, name: string, options: ImportOptions): AsyncGenerator<ImportCandidate> {
  options.signal?.throwIfAborted()
  const info = await lstat(fsPath).catch((err: unknown) => {
    throw unreadable(fsPath, err)
  })
  const meta: { mtime?: Date; mode?: number } = {}
  if (options.preserveMtime === true) meta.mtime = info.mtime
  if (options.preserveMode === true) meta.mode = info.mode & 0o7777
  if (info.isFile()) {
    yield { path: name, content: readFile(fsPath, info.size), ...meta }
  } else if (info.isDirectory()) {
    yield { path: name, ...meta }
    const children = await readdir(fsPath).catch((err: unknown) => {
      throw unreadable(fsPath, err)
    })
    // Byte order, as UnixFS sorts directory links; deterministic across filesystems.
    children.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    for (const child of children) yield* walk(join(fsPath, child), `${name}/${child}`, options)
  }
}

async function* readFile(fsPath: string, size: number): AsyncGenerator<Uint8Array> {
  // Sized to the file (as of lstat), so a small file does not pin a 4 MiB buffer.
  const highWaterMark = Math.max(64 * 1024, Math.min(READ_CHUNK_BYTES, size))
  try {
    for await (const chunk of createReadStream(fsPath, { highWaterMark })) {
      yield chunk as Buffer
    }
  } catch (err) {
    throw unreadable(fsPath, err)
  }
}

function unreadable(fsPath: string, cause: unknown): PinfoldError {
  const reason = (cause as { code?: string } | null)?.code ?? (cause as Error)?.message ?? 'error'
  return new PinfoldError('ERR_FILE_UNREADABLE', `cannot read ${fsPath}: ${reason}`, { cause, userError: true })
}
