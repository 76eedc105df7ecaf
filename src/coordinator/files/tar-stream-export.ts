import type { Logger } from 'pino'
import tar from 'tar-stream'
import { assertSafeName, type BlockSource, cat, ls, PinfoldError, stat } from '../../core/index.ts'
import type { Entry, Registry } from '../../registry/index.ts'

/** One member of a tar export: a directory, or a file whose bytes are read when its turn comes. */
export interface TarItem {
  /** Relative path with `/` separators, every segment a safe name. */
  path: string
  type: 'directory' | 'file'
  size: number
  mtime?: Date
  content?: () => AsyncIterable<Uint8Array>
}

export interface TarSourceOptions {
  signal?: AbortSignal
  logger?: Logger
}

/**
 * Longest member path an export writes (Linux's PATH_MAX): deeper members could not be
 * extracted anywhere, and a hostile DAG of tiny nested directories would otherwise turn
 * thousands of small blocks into an archive quadratic in its depth.
 */
const MAX_TAR_PATH = 4096

/**
 * The members of a UnixFS directory DAG (a folder entry, or a directory inside one), under
 * `prefix`, depth first. Walks with core's `ls`/`cat`, one child at a time, with an explicit
 * stack of open listings rather than recursion, so a DAG thousands of levels deep neither
 * overflows the stack nor costs more than one pending listing per level. Children whose
 * names would escape the archive (`..`, `/`, `\`, NUL — possible in a hostile DAG) are left
 * out rather than rewritten, and symlinks are left out because their targets could point
 * anywhere on the reader's disk. A path beyond {@link MAX_TAR_PATH} fails the export
 * (`ERR_INVALID_DAG`): the archive is aborted, never ended as if complete.
 */
export async function* dagTarItems(source: BlockSource, cidPath: string, prefix: string, options: TarSourceOptions = {}): AsyncGenerator<TarItem> {
  yield { path: prefix, type: 'directory', size: 0 }
  const open = [{ prefix, listing: ls(source, cidPath, options) }]
  try {
    while (open.length > 0) {
      const level = open.at(-1) as (typeof open)[number]
      const next = await level.listing.next()
      if (next.done === true) {
        open.pop()
        continue
      }
      const child = next.value
      if (!isSafeName(child.name)) {
        options.logger?.warn({ cidPath, name: child.name.slice(0, 200) }, 'tar export: unsafe name left out')
        continue
      }
      const path = `${level.prefix}/${child.name}`
      if (path.length > MAX_TAR_PATH) {
        throw new PinfoldError('ERR_INVALID_DAG', `${cidPath} nests deeper than a ${MAX_TAR_PATH}-character path: no archive can hold it`, {
          userError: true,
        })
      }
      const cid = child.cid.toString()
      if (child.type === 'directory') {
        yield { path, type: 'directory', size: 0 }
        open.push({ prefix: path, listing: ls(source, cid, options) })
      } else if (child.type === 'file' || child.type === 'raw' || child.type === 'identity') {
        yield { path, type: 'file', size: Number(child.size), mtime: child.mtime, content: () => cat(source, cid, options) }
      }
    }
  } finally {
    for (const level of open) await level.listing.return(undefined)
  }
}

/**
 * The members of an account's editable directory under `prefix`: its subdirectories from
 * the registry (recursively, newest version of each name), its folders as their DAGs and
 * its files. Pages through the registry listing, so huge directories stream too.
 */
export async function* directoryTarItems(
  registry: Registry,
  source: BlockSource,
  accountId: string,
  directory: Entry,
  prefix: string,
  options: TarSourceOptions = {},
): AsyncGenerator<TarItem> {
  yield { path: prefix, type: 'directory', size: 0, mtime: new Date(directory.mtime) }
  let cursor: string | undefined
  do {
    const page = await registry.entries.list(accountId, directory.id, { limit: 500, cursor })
    if (page === undefined) return // removed meanwhile: what was sent stays a valid archive
    for (const entry of page.items) {
      const path = `${prefix}/${entry.name}`
      if (entry.kind === 'directory') yield* directoryTarItems(registry, source, accountId, entry, path, options)
      else if (entry.cid !== null && entry.kind === 'folder') yield* dagTarItems(source, entry.cid, path, options)
      else if (entry.cid !== null) yield await fileItem(source, entry.cid, path, new Date(entry.mtime), options)
    }
    cursor = page.cursor
  } while (cursor !== undefined)
}

/** A file member sized from its DAG (the tar header must match the bytes exactly). */
async function fileItem(source: BlockSource, cid: string, path: string, mtime: Date, options: TarSourceOptions): Promise<TarItem> {
  const info = await stat(source, cid, options)
  return { path, type: 'file', size: Number(info.size), mtime, content: () => cat(source, cid, options) }
}

function isSafeName(name: string): boolean {
  try {
    assertSafeName(name)
    return true
  } catch {
    return false
  }
}

/**
 * A tar archive of `items`, produced as the reader consumes it: each file is read only when
 * the previous bytes were taken (tar-stream's backpressure), so nothing is buffered whole.
 * A failure part-way ends the stream with that error (the client sees a truncated archive,
 * as with any cut-off download); stopping the iteration early stops the reads.
 */
export function tarArchive(items: AsyncIterable<TarItem>): AsyncIterable<Uint8Array> {
  const pack = tar.pack()
  feed(pack, items).then(
    () => pack.finalize(),
    (error: unknown) => pack.destroy(error instanceof Error ? error : new Error(String(error))),
  )
  // streamx yields the Buffers it was given: tar headers and file chunks
  return pack as AsyncIterable<Uint8Array>
}

async function feed(pack: tar.Pack, items: AsyncIterable<TarItem>): Promise<void> {
  for await (const item of items) {
    if (pack.destroyed) return
    const mtime = item.mtime ?? new Date()
    if (item.type === 'directory') {
      await new Promise<void>((resolve, reject) => {
        pack.entry({ name: `${item.path}/`, type: 'directory', mtime }, (error) => (error ? reject(error) : resolve()))
      })
      continue
    }
    let settle!: (error?: Error | null) => void
    const done = new Promise<void>((resolve, reject) => {
      settle = (error) => (error ? reject(error) : resolve())
    })
    // when reading the content fails (e.g. the client went away), `done` settles later with
    // the archive's error while nobody awaits it: mark it handled so it is not unhandled
    done.catch(() => {})
    const sink = pack.entry({ name: item.path, type: 'file', size: item.size, mtime }, (error) => settle(error))
    // the entry's error also reaches the callback above; without a listener it would be
    // thrown as an uncaught exception when a destroyed archive takes the entry with it
    sink.on('error', () => {})
    for await (const chunk of item.content?.() ?? []) {
      if (!sink.write(chunk)) await drained(sink)
    }
    // streamx types `end` with a required argument; at run time it takes none, like node's
    sink.end(undefined)
    await done
  }
}

/** Resolves when `sink` can take more; rejects when it (and so the archive) was destroyed. */
function drained(sink: ReturnType<tar.Pack['entry']>): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      sink.off('drain', onDrain)
      sink.off('close', onClose)
    }
    const onDrain = () => {
      cleanup()
      resolve()
    }
    const onClose = () => {
      cleanup()
      reject(new Error('tar archive closed'))
    }
    sink.on('drain', onDrain)
    sink.on('close', onClose)
  })
}
