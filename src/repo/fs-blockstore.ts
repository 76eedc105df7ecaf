import { readFile, unlink } from 'node:fs/promises'
import { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import {
  type AbortOptions,
  BlockHashMismatchError,
  blockLinks,
  BlockNotFoundError,
  type Blockstore,
  isIdentityCid,
  verifyBlock,
} from '../core/index.ts'
import { BlockCorruptError } from './errors.ts'
import { PackReaders, readFileAt } from './pack-readers.ts'
import type { BlockRow, RepoIndex } from './repo-index.ts'
import type { StoragePaths } from './storage-paths.ts'
import { type Batch, commitBatch, newBatch, PackWriter, type QueuedBlock } from './write-batch.ts'

export interface FsBlockstoreOptions {
  /** Commit a batch once it holds this many blocks (default 4096). */
  batchBlocks?: number
  /** … or this many bytes (default 64 MiB). */
  batchBytes?: number
  logger: Logger
  /** Told of each block that failed its hash check on a read (after the read was refused). */
  onCorrupt?: (cid: CID) => void
  /** Benchmarks only (`bench/read.ts` measures the cost): `false` skips the hash check on reads. */
  verifyReads?: boolean
}

/** Key of a block in memory maps: its multihash, hex. */
export function mhKey(mh: Uint8Array): string {
  return Buffer.from(mh.buffer, mh.byteOffset, mh.byteLength).toString('hex')
}

/**
 * A {@link Blockstore} keeping blocks in pack files, one per write batch and storage path,
 * under `<storagePath>/blocks/packs/<id>.pack`, indexed in SQLite (block → pack, offset, size).
 * Rows of schema 1 (one file per block under `blocks/<shard>/<base32 multihash>`) stay readable.
 *
 * Why packs: a durable batch costs one write stream and one fdatasync per storage path instead
 * of open/write/close/open/fdatasync/close/rename per block; on the reference disk that is
 * ~1–2 GB/s against ~200–400 MB/s (see docs/benchmarks.md).
 *
 * - Keyed by multihash: a CIDv0 and a CIDv1 with the same digest are one block.
 * - `put` is idempotent. It appends the block to the current batch's pack (no fsync) and
 *   resolves once the bytes are written there; the caller must not change `bytes` before
 *   that. The block is readable at once (from the open pack) and durable after the batch
 *   holding it commits, which happens every `batchBlocks` blocks / `batchBytes` bytes and on
 *   `flush()`. The `put` that fills a batch waits for the *previous* batch's commit, so one
 *   batch commits while the next one fills, and at most two are outstanding (backpressure).
 * - Batches commit one at a time, in order (see `write-batch.ts`).
 * - Removing a block removes its row; a pack file goes when its last block does (its dead
 *   bytes are not reclaimed before that).
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
  readonly #knownDirs = new Set<string>()
  /** Open read handles of committed packs. */
  readonly #readers = new PackReaders()
  #current: Batch = newBatch()
  /** Tail of the serialised commit chain (also used for exclusive index/file work). */
  #chain: Promise<unknown> = Promise.resolve()
  /** The commit the next flushes share, sealed once the running commit is done. */
  #group: Promise<void> | undefined
  /** First commit failure not yet reported by `flush`. */
  #failure: unknown
  #closed = false
  readonly #onCorrupt: ((cid: CID) => void) | undefined
  readonly #verifyReads: boolean

  constructor(paths: StoragePaths, index: RepoIndex, options: FsBlockstoreOptions) {
    this.#paths = paths
    this.#index = index
    this.#log = options.logger
    this.#batchBlocks = Math.max(1, options.batchBlocks ?? 4096)
    this.#batchBytes = Math.max(1, options.batchBytes ?? 64 * 1024 * 1024)
    this.#onCorrupt = options.onCorrupt
    this.#verifyReads = options.verifyReads ?? true
  }

  /**
   * Queues a block. Resolves once its bytes are written to the batch's pack (and, when it filled
   * the batch, once the previous batch committed). Rejects with `ERR_STORAGE_FULL` when no
   * writable path has room.
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
    const size = bytes.byteLength
    const pathId = this.#paths.reserve(size)
    const batch = this.#current
    let pack = batch.packs.get(pathId)
    if (pack === undefined) {
      pack = new PackWriter(this.#paths, pathId)
      batch.packs.set(pathId, pack)
    }
    const { off, written } = pack.append(bytes)
    const queued: QueuedBlock = { key, row: { mh, cid: cid.bytes, pathId, size, pack: pack.id, off, links }, pack, written }
    this.#pending.set(key, queued)
    batch.blocks.push(queued)
    batch.bytes += size
    let previous: Promise<unknown> | undefined
    if (batch.blocks.length >= this.#batchBlocks || batch.bytes >= this.#batchBytes) {
      previous = this.#chain
      this.#seal().catch(() => {}) // reported by flush
    }
    try {
      await written
    } catch (err) {
      // The batch leaves it out of the commit and releases its reservation.
      if (this.#pending.get(key) === queued) this.#pending.delete(key)
      throw err
    }
    if (previous !== undefined) await previous
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
    this.#current = newBatch()
    const run = this.#chain.then(async () => {
      if (batch.blocks.length === 0 && batch.packs.size === 0) return
      try {
        const rows = await commitBatch(batch, this.#paths, this.#index, this.#knownDirs, this.#log)
        const committed = new Set(rows)
        for (const q of batch.blocks) {
          this.#paths.release(q.row.pathId, q.row.size, committed.has(q.row))
        }
      } catch (err) {
        for (const q of batch.blocks) this.#paths.release(q.row.pathId, q.row.size, false)
        this.#failure ??= err
        throw err
      } finally {
        for (const q of batch.blocks) if (this.#pending.get(q.key) === q) this.#pending.delete(q.key)
        await Promise.all([...batch.packs.values()].map((p) => p.close()))
      }
    })
    this.#chain = run.catch(() => {})
    return run
  }

  /**
   * Commits every queued block; resolves when every `put` that resolved before this call is
   * durable and indexed. Rejects with the failure of the commit it waited for, else with the
   * first batch failure since the previous flush.
   *
   * Group commit: flushes called while a commit runs share the next one (one pack fsync and
   * one SQLite transaction for all of them), sealed as soon as the running commit is done.
   */
  async flush(options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    this.#group ??= this.#chain.then(() => {
      this.#group = undefined
      return this.#seal()
    })
    let groupFailure: unknown
    await this.#group.catch((err: unknown) => {
      groupFailure = err
    })
    const failure = this.#failure
    this.#failure = undefined
    if (groupFailure !== undefined) throw groupFailure
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

  /**
   * Rejects with `BlockNotFoundError` when absent. Returns queued bytes before they commit
   * (just written by this process). Committed bytes are hashed against the CID on every read
   * (~1 ms per MB): a mismatch rejects with `BlockCorruptError` (`ERR_BLOCK_CORRUPT`) and is
   * reported to `onCorrupt`, so no reader — gateway, REST, Kubo, CAR export, a peer's fetch —
   * is ever handed wrong bytes.
   */
  async get(cid: CID, options?: AbortOptions): Promise<Uint8Array> {
    options?.signal?.throwIfAborted()
    if (isIdentityCid(cid)) return cid.multihash.digest
    const mh = cid.multihash.bytes
    const queued = this.#pending.get(mhKey(mh))
    if (queued !== undefined) {
      try {
        await queued.written
        const bytes = await queued.pack.read(queued.row.off, queued.row.size)
        if (bytes.byteLength === queued.row.size) return bytes
      } catch {
        // committed and closed meanwhile (or the write failed): read it as indexed
      }
    }
    const row = this.#index.getBlock(mh)
    if (row === undefined) throw new BlockNotFoundError(cid)
    let bytes: Uint8Array
    try {
      bytes = await this.readRow(row)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlockNotFoundError(cid)
      throw err
    }
    if (!this.#verifyReads) return bytes
    try {
      await verifyBlock(cid, bytes)
    } catch (err) {
      if (!(err instanceof BlockHashMismatchError)) throw err
      this.#log.error({ cid: cid.toString(), pack: row.pack, path: row.pathId }, 'corrupt block refused on read')
      this.#onCorrupt?.(cid)
      throw new BlockCorruptError(cid)
    }
    return bytes
  }

  /**
   * Reads an indexed block (no verification). Rejects with ENOENT when its file is gone; bytes
   * shorter than the row's size mean a truncated pack (they will not hash to the CID).
   * Packs are read through handles kept open between reads; `uncached` opens the file anew,
   * so a pack deleted or replaced behind the repo's back is seen as it is now (verify).
   */
  async readRow(row: BlockRow, options: { uncached?: boolean } = {}): Promise<Uint8Array> {
    if (row.pack === undefined) {
      const buf = await readFile(this.#paths.blockFile(row.pathId, row.mh))
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
    }
    const file = this.#paths.packFile(row.pathId, row.pack)
    if (options.uncached === true) return readFileAt(file, row.off, row.size)
    return this.#readers.read(file, row.off, row.size)
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
   * Removes indexed blocks: index rows (and the rows of packs left empty, one transaction)
   * first, then files: schema-1 block files and emptied packs. Call inside `exclusive`. Pins
   * are not checked here (the repo does that). Returns bytes removed.
   */
  async removeRows(rows: BlockRow[]): Promise<number> {
    if (rows.length === 0) return 0
    const packPath = new Map<string, string>()
    for (const r of rows) if (r.pack !== undefined) packPath.set(r.pack, r.pathId)
    const deadPacks = this.#index.deleteBlocks(
      rows.map((r) => r.mh),
      packPath.keys(),
    )
    let bytes = 0
    for (const r of rows) {
      this.#paths.removed(r.pathId, r.size)
      bytes += r.size
    }
    const files = [
      ...rows.filter((r) => r.pack === undefined).map((r) => this.#paths.blockFile(r.pathId, r.mh)),
      ...deadPacks.map((id) => this.#paths.packFile(packPath.get(id) as string, id)),
    ]
    for (const file of files) this.#readers.forget(file)
    await Promise.all(
      files.map((file) =>
        unlink(file).catch((err: NodeJS.ErrnoException) => {
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
    this.#readers.close()
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('blockstore is closed')
  }
}

/** Decodes stored CID bytes. */
export function cidOf(bytes: Uint8Array): CID {
  return CID.decode(bytes)
}
