import { lstat, mkdir, readdir, rename, utimes } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import type { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import { importPaths } from '../../core/index.ts'
import type { Repo } from '../../repo/index.ts'

/** A file imported from `incoming/`. */
export interface IngestedFile {
  /** Relative to `incoming/`, `/`-separated. */
  path: string
  cid: string
  size: number
  /** Epoch ms. */
  mtime: number
}

export interface DropFolderOptions {
  repo: Repo
  /** Called after the file is pinned and moved to `indexed/` (register it with the coordinator). */
  onIngested(file: IngestedFile): void | Promise<void>
  logger: Logger
  /** Default 2 s. */
  pollIntervalMs?: number
}

export const INCOMING = 'incoming'
export const INCOMPLETE = 'incomplete'
export const INDEXED = 'indexed'

interface Seen {
  size: number
  mtimeMs: number
}

/**
 * The FileStore-style drop folder of a node's repo: `incoming/` is polled (fs.watch misses
 * events on many filesystems); a regular file whose size and mtime are unchanged across two
 * consecutive polls is complete. It is imported (Kubo profile, mtime preserved) and pinned
 * inside `repo.runAdd`, checked unchanged once more, moved to `indexed/<same relative path>`
 * with its times kept, and reported through `onIngested`. A file still growing is left alone;
 * a file that changed during import is imported again once stable. Symlinks and special
 * files are ignored. `incomplete/` is created for tools that stage partial copies there.
 */
export class DropFolder {
  readonly #repo: Repo
  readonly #onIngested: (file: IngestedFile) => void | Promise<void>
  readonly #log: Logger
  readonly #pollMs: number
  readonly #incoming: string
  readonly #indexed: string
  #seen = new Map<string, Seen>()
  #timer: NodeJS.Timeout | undefined
  #polling: Promise<void> | undefined
  #stopped = false

  constructor(options: DropFolderOptions) {
    this.#repo = options.repo
    this.#onIngested = options.onIngested
    this.#log = options.logger
    this.#pollMs = options.pollIntervalMs ?? 2000
    this.#incoming = join(options.repo.dir, INCOMING)
    this.#indexed = join(options.repo.dir, INDEXED)
  }

  async start(): Promise<void> {
    for (const dir of [INCOMING, INCOMPLETE, INDEXED]) await mkdir(join(this.#repo.dir, dir), { recursive: true })
    this.#schedule()
  }

  /** One poll now (tests); resolves when it finished. */
  async poll(): Promise<void> {
    if (this.#polling) return this.#polling
    this.#polling = this.#pollOnce().finally(() => {
      this.#polling = undefined
    })
    return this.#polling
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#polling
  }

  #schedule(): void {
    if (this.#stopped) return
    this.#timer = setTimeout(async () => {
      try {
        await this.poll()
      } catch (err) {
        this.#log.warn({ err }, 'drop-folder poll failed')
      }
      this.#schedule()
    }, this.#pollMs)
    this.#timer.unref?.()
  }

  async #pollOnce(): Promise<void> {
    const next = new Map<string, Seen>()
    for await (const file of this.#walk(this.#incoming)) {
      if (this.#stopped) return
      const info = await lstat(file).catch(() => undefined)
      if (!info?.isFile()) continue
      const now: Seen = { size: info.size, mtimeMs: info.mtimeMs }
      const before = this.#seen.get(file)
      next.set(file, now)
      if (before === undefined || before.size !== now.size || before.mtimeMs !== now.mtimeMs) continue
      try {
        if (await this.#ingest(file, now)) next.delete(file)
      } catch (err) {
        this.#log.warn({ err, file }, 'could not ingest; will retry')
      }
    }
    this.#seen = next
  }

  async *#walk(dir: string): AsyncGenerator<string> {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const entry of entries) {
      const full = join(dir, entry.name)
      if (entry.isDirectory()) yield* this.#walk(full)
      else if (entry.isFile()) yield full
    }
  }

  /** Imports, pins and moves one stable file; false when it changed meanwhile. */
  async #ingest(file: string, seen: Seen): Promise<boolean> {
    const path = relative(this.#incoming, file).split(sep).join('/')
    const repo = this.#repo
    const cid = await repo.runAdd(async (): Promise<CID | undefined> => {
      let root: CID | undefined
      for await (const entry of importPaths([file], repo.blocks, { profile: 'kubo', preserveMtime: true })) root = entry.cid
      const after = await lstat(file).catch(() => undefined)
      if (root === undefined || after === undefined || after.size !== seen.size || after.mtimeMs !== seen.mtimeMs) return undefined
      await repo.pins.add(root, { recursive: true, name: path })
      return root
    })
    if (cid === undefined) {
      this.#log.info({ path }, 'file changed while importing; waiting until it is stable')
      return false
    }
    const target = join(this.#indexed, ...path.split('/'))
    await mkdir(dirname(target), { recursive: true })
    const info = await lstat(file)
    await rename(file, target)
    await utimes(target, info.atime, info.mtime) // rename keeps times; explicit for cross-device moves' sake
    const ingested: IngestedFile = { path, cid: cid.toString(), size: seen.size, mtime: Math.floor(seen.mtimeMs) }
    this.#log.info(ingested, 'ingested')
    await this.#onIngested(ingested)
    return true
  }
}
