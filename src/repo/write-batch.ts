import { mkdir, open, rename, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Logger } from 'pino'
import { fsyncDir } from './json-file.ts'
import { mapLimit } from './map-limit.ts'
import type { NewBlockRow, RepoIndex } from './repo-index.ts'
import type { StoragePaths } from './storage-paths.ts'

/** One queued block: bytes kept in memory until its index row is committed. */
export interface QueuedBlock {
  key: string
  row: NewBlockRow
  bytes: Uint8Array
  tmpFile: string
  /** Resolves once the temp file is fully written (not synced). */
  written: Promise<void>
}

const IO_CONCURRENCY = 32

/**
 * Makes a batch of temp files durable and visible, in this order:
 * fdatasync every temp file (concurrently) → create missing shard dirs → journal the
 * renames in the index → rename into place → fsync touched shard dirs (and `blocks/` when a
 * shard dir was created) → commit all index rows in ONE SQLite transaction.
 *
 * A crash at any point leaves: temp files (removed at open), or renamed files listed in the
 * journal without an index row (removed at open), never an index row for a non-durable file.
 * On failure every file of the batch is removed (best effort) and the error is rethrown.
 */
export async function commitBatch(
  batch: QueuedBlock[],
  paths: StoragePaths,
  index: RepoIndex,
  knownShards: Set<string>,
  log: Logger,
): Promise<NewBlockRow[]> {
  const settled = await Promise.allSettled(batch.map((b) => b.written))
  const ok = batch.filter((_, i) => settled[i]?.status === 'fulfilled')
  if (ok.length === 0) return []
  const started = performance.now()
  let renamed = false
  try {
    await mapLimit(ok, IO_CONCURRENCY, async (b) => {
      const handle = await open(b.tmpFile, 'r+')
      try {
        await handle.datasync()
      } finally {
        await handle.close()
      }
    })
    const dirsToSync = new Set<string>()
    for (const b of ok) {
      const shardDir = paths.shardDir(b.row.pathId, b.row.mh)
      dirsToSync.add(shardDir)
      if (!knownShards.has(shardDir)) {
        const created = await mkdir(shardDir, { recursive: true })
        if (created !== undefined) dirsToSync.add(dirname(shardDir))
        knownShards.add(shardDir)
      }
    }
    index.journalFiles(ok.map((b) => ({ mh: b.row.mh, pathId: b.row.pathId })))
    renamed = true
    await mapLimit(ok, IO_CONCURRENCY, (b) => rename(b.tmpFile, paths.blockFile(b.row.pathId, b.row.mh)))
    await mapLimit([...dirsToSync], IO_CONCURRENCY, fsyncDir)
    const rows = ok.map((b) => b.row)
    index.commitBlocks(rows)
    log.debug({ blocks: ok.length, ms: Math.round(performance.now() - started) }, 'batch committed')
    return rows
  } catch (err) {
    log.error({ err, blocks: ok.length }, 'batch commit failed')
    await mapLimit(ok, IO_CONCURRENCY, async (b) => {
      await unlink(b.tmpFile).catch(() => {})
      if (renamed && !index.hasBlock(b.row.mh)) {
        await unlink(paths.blockFile(b.row.pathId, b.row.mh)).catch(() => {})
      }
    }).catch(() => {})
    throw err
  }
}

/** A fresh temp file name under the path's `tmp/` (same filesystem as `blocks/`). */
export function tmpFileFor(paths: StoragePaths, pathId: string, key: string): string {
  return join(paths.tmpDir(pathId), `${key.replace(/[^A-Za-z0-9]/g, '_').slice(-40)}.${process.pid}.${Math.random().toString(36).slice(2)}`)
}

/** Writes `bytes` to a new file without syncing it (the batch syncs). */
export async function writeTemp(file: string, bytes: Uint8Array): Promise<void> {
  const handle = await open(file, 'wx')
  try {
    await handle.writeFile(bytes)
  } finally {
    await handle.close()
  }
}
