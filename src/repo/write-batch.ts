import { randomBytes } from 'node:crypto'
import { type FileHandle, mkdir, open, rename, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Logger } from 'pino'
import { fsyncDir } from './json-file.ts'
import type { NewBlockRow, RepoIndex } from './repo-index.ts'
import type { StoragePaths } from './storage-paths.ts'

/** One queued block: its row (pack + offset) and the write of its bytes into the pack. */
export interface QueuedBlock {
  key: string
  row: NewBlockRow
  pack: PackWriter
  /** Resolves once the bytes are in the pack file (not synced). */
  written: Promise<void>
}

/** The blocks of one batch, in one pack file per storage path. */
export interface Batch {
  blocks: QueuedBlock[]
  packs: Map<string, PackWriter>
  bytes: number
}

export function newBatch(): Batch {
  return { blocks: [], packs: new Map(), bytes: 0 }
}

/**
 * A pack file being written: `<path>/tmp/<id>.pack`, renamed to `<path>/blocks/packs/<id>.pack`
 * when its batch commits. Blocks are appended back to back with positional writes (offsets are
 * handed out synchronously, so concurrent appends never overlap). The handle stays open until
 * the batch is committed, so queued blocks are read back from it whatever its name.
 */
export class PackWriter {
  readonly id: string
  readonly pathId: string
  readonly tmpFile: string
  /** Bytes handed out so far (the pack's final size). */
  size = 0
  readonly #handle: Promise<FileHandle>
  /** Appends not yet being written: written together, in one `writev`, once the write in flight is done. */
  #next: { start: number; parts: Uint8Array[]; done: Promise<void>; settle: (err?: unknown) => void } | undefined
  #inFlight: Promise<void> = Promise.resolve()

  constructor(paths: StoragePaths, pathId: string) {
    this.id = `${Date.now().toString(36)}-${randomBytes(8).toString('hex')}`
    this.pathId = pathId
    this.tmpFile = join(paths.tmpDir(pathId), `${this.id}.pack`)
    this.#handle = open(this.tmpFile, 'wx+')
    this.#handle.catch(() => {}) // reported by the first append
  }

  /**
   * Reserves room for `bytes` at the end of the pack and writes them there. Appends made while
   * a write is in flight are written together by the next one (one `writev`, one trip to the
   * thread pool, instead of one per block); `written` settles with the write holding `bytes`.
   */
  append(bytes: Uint8Array): { off: number; written: Promise<void> } {
    const off = this.size
    this.size += bytes.byteLength
    let next = this.#next
    if (next === undefined) {
      let settle: (err?: unknown) => void = () => {}
      const done = new Promise<void>((resolve, reject) => {
        settle = (err) => (err === undefined ? resolve() : reject(err))
      })
      next = { start: off, parts: [], done, settle }
      this.#next = next
      const batch = next
      this.#inFlight = this.#inFlight.then(async () => {
        if (this.#next === batch) this.#next = undefined
        try {
          await writeAll(await this.#handle, batch.parts, batch.start)
          batch.settle()
        } catch (err) {
          batch.settle(err)
        }
      })
    }
    next.parts.push(bytes)
    return { off, written: next.done }
  }

  /** Reads `size` bytes at `off` (fewer if the file is shorter). */
  async read(off: number, size: number): Promise<Uint8Array> {
    return readAt(await this.#handle, off, size)
  }

  async sync(): Promise<void> {
    await (await this.#handle).datasync()
  }

  /** Closes the handle (after pending operations); never throws. */
  async close(): Promise<void> {
    await this.#handle.then((h) => h.close()).catch(() => {})
  }
}

/** Writes `parts` back to back from `position`, resuming after short writes. */
async function writeAll(handle: FileHandle, parts: Uint8Array[], position: number): Promise<void> {
  let left = parts
  let at = position
  while (left.length > 0) {
    const { bytesWritten } = await handle.writev(left, at)
    at += bytesWritten
    let skip = bytesWritten
    const rest: Uint8Array[] = []
    for (const part of left) {
      if (skip >= part.byteLength) {
        skip -= part.byteLength
        continue
      }
      rest.push(skip > 0 ? part.subarray(skip) : part)
      skip = 0
    }
    if (bytesWritten === 0 && rest.length > 0) throw new Error('pack write made no progress')
    left = rest
  }
}

/** Reads up to `size` bytes at `off`; a shorter result means the file ends early. */
export async function readAt(handle: FileHandle, off: number, size: number): Promise<Uint8Array> {
  const buf = Buffer.allocUnsafe(size)
  let done = 0
  while (done < size) {
    const { bytesRead } = await handle.read(buf, done, size - done, off + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, done)
}

/**
 * Makes a batch durable and visible, in this order: wait for its writes → fdatasync each pack
 * (one per storage path, concurrently) → rename each into `blocks/packs/` → fsync those
 * directories (and `blocks/` when `packs/` was created) → commit the pack rows, block rows and
 * links in ONE SQLite transaction (synchronous=FULL).
 *
 * A crash at any point leaves: temp packs (removed at open), or renamed packs with no pack row
 * (removed at open), never an index row pointing at bytes that are not durable. Blocks whose
 * write failed get no row (their bytes stay as dead space in the pack). On failure every file
 * of the batch is removed (best effort) and the error rethrown. Returns the committed rows.
 * Pack handles are left open: the caller closes them once the blocks left its pending map.
 */
export async function commitBatch(
  batch: Batch,
  paths: StoragePaths,
  index: RepoIndex,
  knownDirs: Set<string>,
  log: Logger,
): Promise<NewBlockRow[]> {
  const blocks = batch.blocks
  const settled = await Promise.allSettled(blocks.map((b) => b.written))
  const ok = blocks.filter((_, i) => settled[i]?.status === 'fulfilled')
  const used = new Set(ok.map((b) => b.pack))
  const packs = [...batch.packs.values()]
  const renamed = new Set<PackWriter>()
  const started = performance.now()
  try {
    for (const p of packs) if (!used.has(p)) await unlink(p.tmpFile).catch(() => {})
    if (ok.length === 0) return []
    const live = packs.filter((p) => used.has(p))
    await Promise.all(live.map((p) => p.sync()))
    const dirsToSync = new Set<string>()
    for (const p of live) {
      const dir = paths.packDir(p.pathId)
      dirsToSync.add(dir)
      if (!knownDirs.has(dir)) {
        const created = await mkdir(dir, { recursive: true })
        if (created !== undefined) dirsToSync.add(dirname(dir))
        knownDirs.add(dir)
      }
    }
    for (const p of live) {
      await rename(p.tmpFile, paths.packFile(p.pathId, p.id))
      renamed.add(p)
    }
    await Promise.all([...dirsToSync].map(fsyncDir))
    const rows = ok.map((b) => b.row)
    index.commitBlocks(
      live.map((p) => ({ id: p.id, pathId: p.pathId, size: p.size })),
      rows,
    )
    log.debug({ blocks: ok.length, packs: live.length, ms: Math.round(performance.now() - started) }, 'batch committed')
    return rows
  } catch (err) {
    log.error({ err, blocks: ok.length }, 'batch commit failed')
    for (const p of packs) {
      await unlink(p.tmpFile).catch(() => {})
      if (renamed.has(p) && !index.hasPack(p.id)) await unlink(paths.packFile(p.pathId, p.id)).catch(() => {})
    }
    throw err
  }
}
