import { mkdir, readdir, rm, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { pino, type Logger } from 'pino'
import { type AbortOptions, type Blockstore, PinfoldError, type ProgressOptions, verifyBlock } from '../core/index.ts'
import { RepoExistsError, RepoNotFoundError } from './errors.ts'
import { FsBlockstore } from './fs-blockstore.ts'
import { collectGarbage, type GcProgressEvent, type GcResult } from './gc.ts'
import { createPins, type Pins } from './pins.ts'
import { configFile, defaultConfig, type RepoConfig, readRepoConfig, writeRepoConfig } from './repo-config.ts'
import { RepoIndex } from './repo-index.ts'
import { RepoLock } from './repo-lock.ts'
import { RwLock } from './rw-lock.ts'
import { initStoragePath, type StoragePathInfo, StoragePaths } from './storage-paths.ts'
import { type VerifyOptions, type VerifyResult, verifyRepo } from './verify.ts'

/** The repo's block store: core {@link Blockstore} plus `delete` and `size`. */
export interface RepoBlockstore extends Blockstore {
  /**
   * Removes a block from index and disk; no-op when absent. Waits for running adds (takes the
   * add lock exclusively) and refuses with `ERR_BLOCK_PINNED` when a pin needs the block.
   */
  delete(cid: CID, options?: AbortOptions): Promise<void>
  /** Size in bytes (queued blocks included), `undefined` when absent. */
  size(cid: CID, options?: AbortOptions): Promise<number | undefined>
}

/** Storage path management; changes apply to the live repo at once. */
export interface RepoStorage {
  /** Every attached path with current used/available bytes (refreshes filesystem free space). */
  list(options?: AbortOptions): Promise<StoragePathInfo[]>
  /**
   * Initialises `dir` (or adopts it if it already holds a `sectorstore.json`, keeping its ID),
   * attaches it and records it in config.json. Relative dirs are relative to the repo dir.
   * Defaults: weight 10, maxSize 0 (unlimited). `ERR_STORAGE_PATH_EXISTS` when attached already.
   * Serialised with other storage changes.
   */
  add(dir: string, options?: { maxSize?: number; weight?: number } & AbortOptions): Promise<StoragePathInfo>
  /**
   * Changes a path's weight (0 = read-only: no new blocks, existing ones stay readable) or
   * maxSize (0 = unlimited). Durable in its sectorstore.json before it applies.
   * `ERR_STORAGE_PATH_NOT_FOUND` for an unknown id.
   */
  set(id: string, options: { maxSize?: number; weight?: number } & AbortOptions): Promise<StoragePathInfo>
}

export interface RepoStat {
  blocks: number
  bytes: number
  pins: number
  /** Config: GC runs from `gcIfNeeded` above storageMax × gcWatermark / 100. */
  storageMax: number
  gcWatermark: number
  storage: StoragePathInfo[]
}

export interface OpenRepoOptions {
  logger?: Logger
  /** Blocks per write batch (default 4096). */
  batchBlocks?: number
  /** Bytes per write batch (default 64 MiB). */
  batchBytes?: number
  /**
   * Told of each block a read refused because its bytes no longer match its CID (the read
   * already failed with `ERR_BLOCK_CORRUPT`); typically calls {@link Repo.dropCorrupt} and
   * fetches the pins it names from another copy. Must not throw.
   */
  onCorruptBlock?: (cid: CID) => void
  /** Benchmarks only: `false` serves blocks unverified, to measure what verification costs. */
  verifyReads?: boolean
}

/** A machine's local repository. Open with {@link openRepo}; one process at a time. */
export interface Repo {
  readonly dir: string
  readonly blocks: RepoBlockstore
  readonly pins: Pins
  readonly storage: RepoStorage
  /**
   * Runs an import + pin (`fn`) holding the add lock shared: GC waits until `fn` settles,
   * so blocks written by `fn` cannot be collected before `fn` pins them. Any number of
   * `runAdd` may run concurrently. Nested calls (and `pins.add` inside) do not re-acquire.
   * Calling `gc()` inside `fn` throws `ERR_LOCK_UPGRADE`.
   */
  runAdd<T>(fn: () => Promise<T>): Promise<T>
  /** Removes blocks reachable from no pin; waits for running adds. See `gc.ts`. */
  gc(options?: ProgressOptions<GcProgressEvent>): Promise<GcResult>
  /** Runs `gc` when indexed bytes exceed Gc.StorageMax × Gc.GCWatermark / 100 (as Kubo); else `undefined`. */
  gcIfNeeded(options?: ProgressOptions<GcProgressEvent>): Promise<GcResult | undefined>
  /**
   * Removes one block that failed its hash check, and every pin whose DAG holds it (a pin
   * must never name an incomplete DAG): returns those pins' CIDs, for the caller to fetch
   * back from another copy. Re-reads the block from disk first: when it now verifies (a
   * passing fault), nothing is removed and the result is empty. Holds the add lock
   * exclusively as a new holder, also when called from inside an add (it waits for running
   * adds, so an add must never await it); concurrent calls for one block are harmless.
   */
  dropCorrupt(cid: CID): Promise<CID[]>
  /** Re-hashes every block; see `verify.ts`. Damaged pins are reported, never removed. */
  verify(options?: VerifyOptions): Promise<VerifyResult>
  stat(options?: AbortOptions): Promise<RepoStat>
  /**
   * Bytes of the DAG under `cid` as stored: the sizes of its distinct blocks present in the
   * index (a missing subtree counts nothing), measured by the repo, never what a block
   * declares about itself. Flushes queued blocks first.
   */
  dagBytes(cid: CID, options?: AbortOptions): Promise<number>
  /** Flushes queued blocks, closes the index and releases the repo lock. Idempotent. */
  close(): Promise<void>
}

/**
 * Creates a repo in `dir` (created if needed): config.json, index.sqlite and one storage path
 * (default `<dir>/store`, or `options.storagePath`, relative to `dir` when relative).
 * Throws `ERR_REPO_EXISTS` when `dir` already holds a config.json. config.json is written last,
 * so an interrupted init can be run again.
 */
export async function initRepo(dir: string, options: { storagePath?: string } = {}): Promise<void> {
  if ((await readRepoConfig(dir).catch(() => ({}))) !== undefined) throw new RepoExistsError(dir)
  await mkdir(dir, { recursive: true })
  const storagePath = options.storagePath ?? 'store'
  const config = defaultConfig(storagePath)
  const paths = await StoragePaths.load(dir, [])
  await initStoragePath(paths.resolve(storagePath))
  new RepoIndex(join(dir, 'index.sqlite')).close()
  await writeRepoConfig(dir, config)
}

/**
 * Opens the repo in `dir`: takes `repo.lock` (stale ones taken over; `ERR_REPO_LOCKED` when a
 * live process holds it), loads storage paths and the index, removes temp files and block
 * files journaled but never committed (crash leftovers). `ERR_REPO_NOT_FOUND` if not initialised.
 */
export async function openRepo(dir: string, options: OpenRepoOptions = {}): Promise<Repo> {
  try {
    await stat(configFile(dir))
  } catch {
    throw new RepoNotFoundError(dir)
  }
  const lock = await RepoLock.acquire(dir)
  let index: RepoIndex | undefined
  try {
    const config = await readRepoConfig(dir)
    if (config === undefined) throw new RepoNotFoundError(dir)
    const log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'repo' })
    const paths = await StoragePaths.load(
      dir,
      config.StoragePaths.map((p) => p.Path),
    )
    index = new RepoIndex(join(dir, 'index.sqlite'))
    await recover(paths, index, log)
    paths.setUsed(index.usedByPath())
    await paths.refreshFree()
    const blockOptions: ConstructorParameters<typeof FsBlockstore>[2] = { logger: log }
    if (options.batchBlocks !== undefined) blockOptions.batchBlocks = options.batchBlocks
    if (options.batchBytes !== undefined) blockOptions.batchBytes = options.batchBytes
    if (options.onCorruptBlock !== undefined) blockOptions.onCorrupt = options.onCorruptBlock
    if (options.verifyReads !== undefined) blockOptions.verifyReads = options.verifyReads
    const blocks = new FsBlockstore(paths, index, blockOptions)
    return new OpenRepo(dir, config, paths, index, blocks, lock, log)
  } catch (err) {
    index?.close()
    await lock.release()
    throw err
  }
}

/**
 * Removes crash leftovers: temp files, pack files with no pack row (renamed into place but
 * never committed) and schema-1 journaled-but-uncommitted block files.
 */
async function recover(paths: StoragePaths, index: RepoIndex, log: Logger): Promise<void> {
  let temps = 0
  for (const id of paths.ids()) {
    const tmp = paths.tmpDir(id)
    for (const name of await readdir(tmp)) {
      await rm(join(tmp, name), { force: true, recursive: true })
      temps++
    }
    const packDir = paths.packDir(id)
    const names = await readdir(packDir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return []
      throw err
    })
    const known = index.packIds(id)
    for (const name of names) {
      if (!name.endsWith('.pack') || known.has(name.slice(0, -'.pack'.length))) continue
      await rm(join(packDir, name), { force: true })
      temps++
    }
  }
  const orphans = index.orphanFiles()
  for (const o of orphans) {
    if (!paths.has(o.pathId)) continue
    await unlink(paths.blockFile(o.pathId, o.mh)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    })
  }
  index.clearJournal()
  if (temps > 0 || orphans.length > 0) log.info({ temps, orphans: orphans.length }, 'cleaned crash leftovers')
}

class OpenRepo implements Repo {
  readonly dir: string
  readonly blocks: RepoBlockstore
  readonly pins: Pins
  readonly storage: RepoStorage
  readonly #config: RepoConfig
  readonly #paths: StoragePaths
  readonly #index: RepoIndex
  readonly #store: FsBlockstore
  readonly #lock: RepoLock
  readonly #addLock = new RwLock()
  readonly #log: Logger
  #configChain: Promise<unknown> = Promise.resolve()
  #closing: Promise<void> | undefined

  constructor(
    dir: string,
    config: RepoConfig,
    paths: StoragePaths,
    index: RepoIndex,
    store: FsBlockstore,
    lock: RepoLock,
    log: Logger,
  ) {
    this.dir = dir
    this.#config = config
    this.#paths = paths
    this.#index = index
    this.#store = store
    this.#lock = lock
    this.#log = log
    this.pins = createPins(index, store, this.#addLock)
    this.blocks = {
      put: (cid, bytes, o) => store.put(cid, bytes, o),
      get: (cid, o) => store.get(cid, o),
      has: (cid, o) => store.has(cid, o),
      flush: (o) => store.flush(o),
      size: (cid, o) => store.size(cid, o),
      delete: (cid, o) =>
        this.#addLock.exclusive(async () => {
          await store.flush(o)
          if (index.isLive(cid.multihash.bytes)) {
            throw new PinfoldError('ERR_BLOCK_PINNED', `block ${cid} is needed by a pin`, { userError: true })
          }
          await store.delete(cid, o)
        }),
    }
    this.storage = {
      list: async () => {
        await paths.refreshFree()
        return paths.list()
      },
      add: (storageDir, o = {}) =>
        this.#serialiseConfig(async () => {
          const json = await paths.add(storageDir, o)
          this.#config.StoragePaths = paths.configPaths().map((Path) => ({ Path }))
          await writeRepoConfig(this.dir, this.#config)
          this.#log.info({ id: json.ID, dir: storageDir }, 'storage path added')
          return paths.info(json.ID)
        }),
      set: (id, o) =>
        this.#serialiseConfig(async () => {
          await paths.set(id, o)
          this.#log.info({ id, ...o }, 'storage path changed')
          return paths.info(id)
        }),
    }
  }

  #serialiseConfig<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#configChain.then(fn)
    this.#configChain = run.catch(() => {})
    return run
  }

  runAdd<T>(fn: () => Promise<T>): Promise<T> {
    return this.#addLock.shared(fn)
  }

  gc(options?: ProgressOptions<GcProgressEvent>): Promise<GcResult> {
    return collectGarbage(this.#index, this.#store, this.#addLock, options).then((r) => {
      this.#log.info(r, 'gc done')
      return r
    })
  }

  async gcIfNeeded(options?: ProgressOptions<GcProgressEvent>): Promise<GcResult | undefined> {
    const { StorageMax, GCWatermark } = this.#config.Gc
    if (this.#index.totals().bytes <= (StorageMax * GCWatermark) / 100) return undefined
    return this.gc(options)
  }

  dropCorrupt(cid: CID): Promise<CID[]> {
    // detached: it is called from reads, also those inside an add (a fetch walking what the
    // repo holds), and runs once that add has failed on the block and let go of the lock
    return this.#addLock.exclusiveDetached(async () => {
      const mh = cid.multihash.bytes
      const row = this.#index.getBlock(mh)
      if (row !== undefined) {
        const intact = await this.#store
          .readRow(row, { uncached: true })
          .then((bytes) => verifyBlock(cid, bytes))
          .then(
            () => true,
            () => false,
          )
        if (intact) return []
        await this.#store.exclusive(() => this.#store.removeRows([row]))
      }
      const pins = this.#index.pinsAbove(mh)
      for (const pin of pins) this.#index.deletePin(pin.mh)
      const dropped = pins.map((pin) => CID.decode(pin.cid))
      this.#log.warn({ cid: cid.toString(), pins: dropped.length }, 'corrupt block dropped with the pins that held it')
      return dropped
    })
  }

  verify(options?: VerifyOptions): Promise<VerifyResult> {
    return verifyRepo(this.#index, this.#store, this.#addLock, options)
  }

  async stat(options?: AbortOptions): Promise<RepoStat> {
    options?.signal?.throwIfAborted()
    await this.#paths.refreshFree()
    return {
      ...this.#index.totals(),
      storageMax: this.#config.Gc.StorageMax,
      gcWatermark: this.#config.Gc.GCWatermark,
      storage: this.#paths.list(),
    }
  }

  async dagBytes(cid: CID, options?: AbortOptions): Promise<number> {
    await this.#store.flush(options)
    return this.#index.dagBytes(cid.multihash.bytes)
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.#store.close()
      } finally {
        this.#index.close()
        await this.#lock.release()
      }
    })()
    return this.#closing
  }
}
