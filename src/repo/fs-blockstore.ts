import { readFile, unlink } from 'node:fs/promises'
import { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import { type AbortOptions, blockLinks, BlockNotFoundError, type Blockstore, isIdentityCid } from '../core/index.ts'
import type { BlockRow, RepoIndex } from './repo-index.ts'
import type { StoragePaths } from './storage-paths.ts'
import { commitBatch, type QueuedBlock, tmpFileFor, writeTemp } from './write-batch.ts'

export interface FsBlockstoreOptions {
  /** Commit a batch once it holds this many blocks (default 256). */
  batchBlocks?: number
  /** … or this many bytes (default 64 MiB). */
  batchBytes?: number
  logger: Logger
}

/** Key of a block in memory maps: its multihash, hex. */
export function mhKey(mh: Uint8Array): string {
  return Buffer.from(mh.buffer, mh.byteOffset, mh.byteLength).toString('hex')
}

/**
 * A {@link Blockstore} keeping one file per block under
 * `<storagePath>/blocks/<shard>/<base32 multihash>`, indexed in SQLite.
 *
 * - Keyed by multihash: a CIDv0 and a CIDv1 with the same digest are one block.
 * - `put` is idempotent. It writes a temp file (no fsync) and queues it; the block is
 *   readable at once (from memory) and durable after the batch holding it commits, which
 *   happens every `batchBlocks` blocks / `batchBytes` bytes and on `flush()`. A `put`
 *   that fills a batch waits for that batch's commit (backpressure).
 * - Batches commit one at a time, in order (see `write-batch.ts`).
 * - All methods are safe to call concurrently. Identity CIDs are never stored.
 */
export class FsBlockstore implements Blockstore {
  readonly #paths: StoragePaths
  readonly #index: RepoIndex
  readonly #log: Logger
  readonly #batchBlocks: number
  readonly #batchBytes: number
  /** Blocks queued or committing, by multihash key. */
  readonly #pending = new Map<string, QueuedBlock>()
  readonly #knownShards = new Set<string>()
  #current: QueuedBlock[] = []
  #currentBytes = 0
  /** Tail of the serialised commit chain (also used for exclusive index/file work). */
  #chain: Promise<unknown> = Promise.resolve()
  /** First commit failure not yet reported by `flush`. */
  #failure: unknown
  #closed = false

  constructor(paths: StoragePaths, index: RepoIndex, options: FsBlockstoreOptions) {
    this.#paths = paths
    this.#index = index
    this.#log = options.logger
    this.#batchBlocks = Math.max(1, options.batchBlocks ?? 256)
    this.#batchBytes = Math.max(1, options.batchBytes ?? 64 * 1024 * 1024)
  }

  /**
   * Queues a block. Resolves once its temp file is written (and, when it filled the batch,
   * once the batch committed). Rejects with `ERR_STORAGE_FULL` when no writable path has room.
   */
  async put(cid: CID, bytes: Uint8Array, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    this.#assertOpen()
    if (isIdentityCid(cid)) return
    const mh = cid.multihash.bytes
    const key = mhKey(mh)
    if (this.#pending.has(key) || this.#index.hasBlock(mh)) return
    await this.#paths.refreshStale()
    if (this.#pending.has(key) || this.#index.hasBlock(mh)) return
    const links = this.#links(cid, bytes)
    const pathId = this.#paths.reserve(bytes.byteLength)
    const copy = bytes.slice()
    const tmpFile = tmpFileFor(this.#paths, pathId, key)
    const queued: QueuedBlock = {
      key,
      row: { mh, cid: cid.bytes, pathId, size: copy.byteLength, links },
      bytes: copy,
      tmpFile,
      written: writeTemp(tmpFile, copy),
    }
    this.#pending.set(key, queued)
    this.#current.push(queued)
    this.#currentBytes += copy.byteLength
    let commit: Promise<void> | undefined
    if (this.#current.length >= this.#batchBlocks || this.#currentBytes >= this.#batchBytes) commit = this.#seal()
    try {
      await queued.written
    } catch (err) {
      if (this.#pending.get(key) === queued) this.#pending.delete(key)
      this.#current = this.#current.filter((q) => q !== queued)
      this.#paths.release(pathId, copy.byteLength, false)
      await unlink(tmpFile).catch(() => {})
      throw err
    }
    if (commit !== undefined) await commit
  }

  /**
   * Children to record in the links table. Bytes that do not decode as their codec have no
   * links (stored as opaque, logged); an unsupported codec is refused (`ERR_UNSUPPORTED_CODEC`)
   * since GC could not see its children.
   */
  #links(cid: CID, bytes: Uint8Array): Array<{ mh: Uint8Array; cid: Uint8Array }> {
    let children: CID[]
    try {
      children = blockLinks(cid, bytes)
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_INVALID_BLOCK') throw err
      this.#log.warn({ cid: cid.toString() }, 'block does not decode; stored without links')
      children = []
    }
    return children.filter((c) => !isIdentityCid(c)).map((c) => ({ mh: c.multihash.bytes, cid: c.bytes }))
  }

  /** Seals the current batch and chains its commit; resolves when it is committed. */
  #seal(): Promise<void> {
    const batch = this.#current
    this.#current = []
    this.#currentBytes = 0
    const run = this.#chain.then(async () => {
      if (batch.length === 0) return
      try {
        const rows = await commitBatch(batch, this.#paths, this.#index, this.#knownShards, this.#log)
        const committed = new Set(rows)
        for (const q of batch) {
          this.#paths.release(q.row.pathId, q.row.size, committed.has(q.row))
        }
      } catch (err) {
        for (const q of batch) this.#paths.release(q.row.pathId, q.row.size, false)
        this.#failure ??= err
        throw err
      } finally {
        for (const q of batch) if (this.#pending.get(q.key) === q) this.#pending.delete(q.key)
      }
    })
    this.#chain = run.catch(() => {})
    return run
  }

  /**
   * Commits every queued block; resolves when every `put` that resolved before this call is
   * durable and indexed. Rejects with the first batch failure since the previous flush.
   */
  async flush(options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    await this.#seal().catch(() => {})
    await this.#chain
    const failure = this.#failure
    this.#failure = undefined
    if (failure !== undefined) throw failure
  }

  /**
   * Runs `fn` after every queued commit, with no batch committing until it finishes
   * (used by GC and verify to delete blocks without racing a commit).
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn)
    this.#chain = run.catch(() => {})
    return run
  }

  /** Rejects with `BlockNotFoundError` when absent. Returns queued bytes before they commit. */
  async get(cid: CID, options?: AbortOptions): Promise<Uint8Array> {
    options?.signal?.throwIfAborted()
    if (isIdentityCid(cid)) return cid.multihash.digest
    const mh = cid.multihash.bytes
    const queued = this.#pending.get(mhKey(mh))
    if (queued !== undefined) return queued.bytes
    const row = this.#index.getBlock(mh)
    if (row === undefined) throw new BlockNotFoundError(cid)
    try {
      return await this.readRow(row)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlockNotFoundError(cid)
      throw err
    }
  }

  /** Reads an indexed block's file (no verification). */
  async readRow(row: BlockRow): Promise<Uint8Array> {
    const buf = await readFile(this.#paths.blockFile(row.pathId, row.mh))
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
  }

  async has(cid: CID, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    if (isIdentityCid(cid)) return true
    const mh = cid.multihash.bytes
    return this.#pending.has(mhKey(mh)) || this.#index.hasBlock(mh)
  }

  /** Size in bytes, or `undefined` when absent. */
  async size(cid: CID, options?: AbortOptions): Promise<number | undefined> {
    options?.signal?.throwIfAborted()
    if (isIdentityCid(cid)) return cid.multihash.digest.byteLength
    const mh = cid.multihash.bytes
    return this.#pending.get(mhKey(mh))?.row.size ?? this.#index.getBlock(mh)?.size
  }

  /**
   * Removes indexed blocks: index rows (one transaction) first, then files. Call inside
   * `exclusive`. Pins are not checked here (the repo does that). Returns bytes removed.
   */
  async removeRows(rows: BlockRow[]): Promise<number> {
    if (rows.length === 0) return 0
    this.#index.deleteBlocks(rows.map((r) => r.mh))
    let bytes = 0
    for (const r of rows) {
      this.#paths.removed(r.pathId, r.size)
      bytes += r.size
    }
    await Promise.all(
      rows.map((r) =>
        unlink(this.#paths.blockFile(r.pathId, r.mh)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') this.#log.warn({ err }, 'could not remove block file')
        }),
      ),
    )
    return bytes
  }

  /** Removes one block (index row, links and file); no-op when absent. Ignores pins. */
  async delete(cid: CID, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    if (isIdentityCid(cid)) return
    await this.flush(options)
    await this.exclusive(async () => {
      const row = this.#index.getBlock(cid.multihash.bytes)
      if (row !== undefined) await this.removeRows([row])
    })
  }

  /** Flushes and refuses further puts. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    await this.flush()
    this.#closed = true
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('blockstore is closed')
  }
}

/** Decodes stored CID bytes. */
export function cidOf(bytes: Uint8Array): CID {
  return CID.decode(bytes)
}
