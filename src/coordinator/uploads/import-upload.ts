import { createReadStream } from 'node:fs'
import type { CID } from 'multiformats/cid'
import { type ImportCandidate, importEntries, PinfoldError } from '../../core/index.ts'
import type { Repo } from '../../repo/index.ts'
import type { LayoutOptions, UploadMode, UploadRequest } from './upload-request.ts'

/** Read size when streaming a received file (tus) into the importer: one default chunk. */
const READ_CHUNK_BYTES = 256 * 1024

/**
 * Folder mode imports every part under this one synthetic directory, so the tree has a single
 * root whether or not the paths share a top-level directory; the folder is that directory, or
 * the shared top-level directory inside it. The name never reaches a CID (a directory's CID
 * depends on its children's names only).
 */
const FOLDER_WRAPPER = 'upload'

/** What the repo now holds for an upload: one root per file (files mode) or one folder root. */
export interface ImportedUpload {
  /** Files mode: the CID of each file, in `request.files` order. */
  fileCids: CID[]
  /** Folder mode: the folder's CID and name. */
  folder?: { cid: CID; name: string }
}

/**
 * An import that runs while an upload arrives: each file's bytes go from the request straight
 * into the repo's blockstore (no copy on disk), under `repo.runAdd` from the first file to the
 * pin, so GC cannot collect the blocks in between. Nothing is pinned until `finish`: an upload
 * that fails or is refused part-way leaves only unpinned blocks, which GC collects.
 *
 * Files are imported one at a time, in the order given (`sequential` in core): `addFile`
 * resolves once the importer has read the file's content to its end, so the caller may then
 * read the next part of a multipart body (parts arrive one after another on one stream).
 * Files mode: every file is its own root. Folder mode: one directory, the CID `pinfold add -r`
 * gives the same tree (links are sorted by name, so arrival order does not matter).
 */
export interface StreamingImport {
  /**
   * Imports one file; `segments` is its validated relative path (unique within the upload).
   * Resolves once `content` was read to its end; rejects when reading it or the import fails
   * (an error thrown by `content`, e.g. a limit, is the one rejected with).
   */
  addFile(segments: string[], content: AsyncIterable<Uint8Array>): Promise<void>
  /**
   * No more files: waits for the roots (directory nodes written, blocks flushed), pins them,
   * then releases the add lock. Resolves once blocks and pins are durable, so the registry may
   * reference the CIDs afterwards. Folder mode needs `name` or a top-level directory shared
   * by every path (ERR_VALIDATION otherwise).
   */
  finish(): Promise<ImportedUpload>
  /** Stops the import and releases the add lock; nothing is pinned. Idempotent; a no-op after `finish`. */
  abort(reason?: unknown): Promise<void>
}

export interface StreamingImportOptions {
  mode: UploadMode
  layout: LayoutOptions
  /** Folder mode: the folder's name (default: the top-level directory every path shares). */
  name?: string
}

/** Starts an import into `repo` (it waits for the add lock, e.g. behind a running GC). */
export function startImport(repo: Repo, options: StreamingImportOptions): StreamingImport {
  return new RepoStreamingImport(repo, options)
}

/**
 * Imports an upload whose files were received to disk (tus: `file.diskPath`), or finishes the
 * import that ran while it arrived (multipart: `request.import`). Resolves once blocks and pins
 * are durable; on failure nothing is pinned.
 */
export async function importUpload(repo: Repo, request: UploadRequest): Promise<ImportedUpload> {
  if (request.import !== undefined) return request.import.finish()
  const options: StreamingImportOptions = { mode: request.mode, layout: request.layout }
  if (request.name !== undefined) options.name = request.name
  const importing = startImport(repo, options)
  try {
    for (const file of request.files) {
      if (file.diskPath === undefined) throw new Error(`upload file ${file.segments.join('/')} has neither content on disk nor an import`)
      await importing.addFile(file.segments, readChunks(file.diskPath))
    }
    return await importing.finish()
  } catch (error) {
    await importing.abort(error)
    throw error
  }
}

class RepoStreamingImport implements StreamingImport {
  readonly #options: StreamingImportOptions
  readonly #candidates = new Handoff<ImportCandidate>()
  readonly #abort = new AbortController()
  /** Settles when the import task does: roots pinned (or `undefined` when aborted), or its failure. */
  readonly #task: Promise<ImportedUpload | undefined>
  /** Rejects with the task's failure; never resolves. For racing against a file being read. */
  readonly #failed: Promise<never>
  #decide: (pin: boolean) => void = () => undefined
  #files = 0
  /** Folder mode: the top-level directory shared by every path so far (`null`: none). */
  #top: string | null | undefined
  #state: 'open' | 'finishing' | 'aborted' = 'open'

  constructor(repo: Repo, options: StreamingImportOptions) {
    this.#options = options
    const decided = new Promise<boolean>((resolve) => {
      this.#decide = resolve
    })
    this.#task = repo.runAdd(async () => {
      const signal = this.#abort.signal
      const found = new Map<string, CID>()
      const keep = options.mode === 'files' ? (path: string) => !path.includes('/') : (path: string) => path.split('/').length <= 2
      for await (const entry of importEntries(this.#candidates, repo.blocks, { ...options.layout, sequential: true, signal })) {
        if (keep(entry.path)) found.set(entry.path, entry.cid)
      }
      const imported = this.#roots(found)
      // the add lock stays held until the caller decides: finish pins, abort leaves the blocks to GC
      if (!(await decided)) return undefined
      for (const cid of imported.folder ? [imported.folder.cid] : imported.fileCids) await repo.pins.add(cid, { signal })
      return imported
    })
    this.#failed = this.#task.then(
      () => new Promise<never>(() => undefined),
      (error: unknown) => {
        throw error
      },
    )
    // observed through addFile/finish/abort; a failure nobody waits for must not crash the process
    this.#failed.catch(() => undefined)
  }

  async addFile(segments: string[], content: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.#state !== 'open') throw new Error('import is no longer open')
    const index = this.#files++
    if (this.#options.mode === 'folder') {
      const top = segments.length > 1 ? segments[0] : undefined
      this.#top = this.#top === undefined || this.#top === top ? (top ?? null) : null
    }
    const path = this.#options.mode === 'folder' ? `${FOLDER_WRAPPER}/${segments.join('/')}` : `f${index}`
    const signal = this.#abort.signal
    let outcome: { error: unknown } | undefined
    let settle: () => void = () => undefined
    const read = new Promise<void>((resolve) => {
      settle = resolve
    })
    const tracked = async function* (): AsyncGenerator<Uint8Array> {
      const chunks = content[Symbol.asyncIterator]()
      // an abort must not wait for a client that stopped sending
      let onAbort = (): void => undefined
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason)
        if (signal.aborted) onAbort()
      })
      aborted.catch(() => undefined)
      signal.addEventListener('abort', onAbort, { once: true })
      try {
        for (;;) {
          const next = await Promise.race([chunks.next(), aborted])
          if (next.done === true) break
          yield next.value
        }
        outcome = { error: undefined }
      } catch (error) {
        outcome = { error }
        throw error
      } finally {
        // stopped early (a failure, or the importer gave up on it): release the source, unawaited
        if (outcome === undefined || outcome.error !== undefined) void chunks.return?.()?.catch(() => undefined)
        signal.removeEventListener('abort', onAbort)
        settle()
      }
    }
    this.#candidates.push({ path, content: tracked() })
    await Promise.race([read, this.#failed])
    if (outcome === undefined) return this.#failed // the importer stopped reading: its failure says why
    if (outcome.error !== undefined) throw outcome.error
  }

  async finish(): Promise<ImportedUpload> {
    if (this.#state !== 'open') throw new Error('import is no longer open')
    this.#state = 'finishing'
    this.#candidates.end()
    this.#decide(true)
    const imported = await this.#task
    if (imported === undefined) throw new Error('import was aborted')
    return imported
  }

  async abort(reason?: unknown): Promise<void> {
    if (this.#state !== 'open') return
    this.#state = 'aborted'
    const error = reason ?? new Error('upload aborted')
    this.#decide(false)
    this.#candidates.fail(error)
    this.#abort.abort(error)
    await this.#task.catch(() => undefined)
  }

  #roots(found: Map<string, CID>): ImportedUpload {
    if (this.#options.mode === 'files') {
      const fileCids = Array.from({ length: this.#files }, (_, i) => found.get(`f${i}`) ?? missingRoot(`file ${i}`))
      return { fileCids }
    }
    const top = this.#top ?? undefined
    const name = this.#options.name ?? top
    if (name === undefined) throw folderNeedsName()
    const path = top === undefined ? FOLDER_WRAPPER : `${FOLDER_WRAPPER}/${top}`
    return { fileCids: [], folder: { cid: found.get(path) ?? missingRoot('the folder'), name } }
  }
}

/** ERR_VALIDATION: a folder upload without `name` whose paths share no top-level directory. */
export function folderNeedsName(): PinfoldError {
  return new PinfoldError('ERR_VALIDATION', 'a folder upload needs a name: send the field "name" or paths inside one top-level directory', {
    userError: true,
  })
}

function missingRoot(what: string): never {
  throw new PinfoldError('ERR_IMPORT_FAILED', `importer produced no root for ${what}`)
}

/**
 * A queue of candidates read by the importer. Holds at most one in practice: the importer asks
 * for the next candidate only after reading the previous one (sequential), and `addFile` waits
 * for that before pushing the next.
 */
class Handoff<T> implements AsyncIterable<T> {
  readonly #items: T[] = []
  #ended = false
  #failure: { error: unknown } | undefined
  #wake: (() => void) | undefined

  push(item: T): void {
    this.#items.push(item)
    this.#notify()
  }

  end(): void {
    this.#ended = true
    this.#notify()
  }

  fail(error: unknown): void {
    this.#failure = { error }
    this.#notify()
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      if (this.#failure !== undefined) throw this.#failure.error
      if (this.#items.length > 0) {
        yield this.#items.shift() as T
        continue
      }
      if (this.#ended) return
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
    }
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }
}

/** A lazy read stream: the file is opened only when the importer reaches it, so many files never exhaust descriptors. */
async function* readChunks(path: string): AsyncGenerator<Uint8Array> {
  for await (const chunk of createReadStream(path, { highWaterMark: READ_CHUNK_BYTES })) yield chunk as Buffer
}
