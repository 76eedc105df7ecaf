import type { Logger } from 'pino'
import { parseCid } from '../../core/index.ts'
import type { Registry } from '../../registry/index.ts'
import type { Repo } from '../../repo/index.ts'

/**
 * Turns the registry's "nothing references this CID any more" into reclaimed disk space in
 * the origin repository: unpins each released CID there and schedules a garbage collection.
 *
 * - GC is debounced: it runs `gcDelayMs` after the last release, so deleting many entries
 *   costs one collection, and never runs concurrently with itself (a release during a
 *   collection schedules one more afterwards).
 * - Re-referencing wins: a CID that the registry pins again (an upload of the same bytes)
 *   before the collection starts is pinned again in the repo, so GC keeps it. One narrow
 *   window remains: an upload whose repo pin this service removed (it pinned between our
 *   registry check and `pins.rm`) and that registers only after the pre-GC re-check. Closing
 *   it needs uploads to re-pin in the repo after registering, under the repo's add lock.
 * - Best effort: failures are logged, never thrown at the request that released the CID;
 *   a pin left behind only costs space, never loses data.
 */
export interface ContentReleaser {
  /** Unpins `cids` (as released by `registry.entries.remove`) and schedules GC. */
  release(cids: readonly string[]): Promise<void>
  /**
   * Unpins staged copies the storage nodes now hold (staging release) and schedules GC. Unlike
   * `release`, the registry still pins them, so they are never pinned again here; a CID whose
   * repo pin was already gone is ignored. Best effort, as `release`.
   */
  unstage(cids: readonly string[]): Promise<void>
  /** Runs the pending collection now (if any) and waits for it; for tests and shutdown paths. */
  collectNow(): Promise<void>
  /** Cancels a pending collection and waits for a running one. Idempotent. */
  close(): Promise<void>
}

export interface ContentReleaserOptions {
  registry: Registry
  repo: Repo
  logger: Logger
  /** Quiet period before GC runs, ms (default 5000). */
  gcDelayMs?: number
}

export function createContentReleaser({ registry, repo, logger, gcDelayMs = 5000 }: ContentReleaserOptions): ContentReleaser {
  /** CIDs unpinned since the last collection: re-checked against the registry before GC. */
  const unpinned = new Set<string>()
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let again = false
  let closed = false

  function schedule(): void {
    if (closed) return
    clearTimeout(timer)
    timer = setTimeout(() => void collect(), gcDelayMs)
    // a pending collection must not keep the process alive at shutdown
    timer.unref()
  }

  function collect(): Promise<void> {
    timer = undefined
    if (running) {
      again = true
      return running
    }
    running = (async () => {
      await repinReferenced()
      const result = await repo.gc()
      logger.info(result, 'origin repo garbage collected after release')
    })()
      .catch((error: unknown) => {
        // e.g. the registry restarting: try again later rather than keep released blocks for ever
        logger.error({ err: error }, 'garbage collection after release failed; retrying later')
        again = true
      })
      .finally(() => {
        running = undefined
        if (again) {
          again = false
          schedule()
        }
      })
    return running
  }

  /** Pins again whatever was re-registered since it was unpinned (its blocks are still here). */
  async function repinReferenced(): Promise<void> {
    const cids = [...unpinned]
    unpinned.clear()
    for (const cid of cids) {
      if ((await registry.pins.get(cid)) === undefined) continue
      await repo.pins.add(parseCid(cid), { recursive: true }).catch((error: unknown) => {
        logger.error({ err: error, cid }, 'could not re-pin content registered again during release')
      })
    }
  }

  return {
    async release(cids) {
      if (cids.length === 0) return
      for (const cid of cids) {
        try {
          // the registry may already reference it again (a concurrent upload of the same bytes)
          if ((await registry.pins.get(cid)) !== undefined) continue
          await repo.pins.rm(parseCid(cid))
          unpinned.add(cid)
        } catch (error) {
          logger.error({ err: error, cid }, 'could not unpin released content')
        }
      }
      schedule()
    },
    async unstage(cids) {
      let removed = 0
      for (const cid of cids) {
        try {
          if (await repo.pins.rm(parseCid(cid))) removed++
        } catch (error) {
          logger.error({ err: error, cid }, 'could not unpin a staged copy')
        }
      }
      if (removed > 0) schedule()
    },
    async collectNow() {
      await running
      if (timer === undefined) return
      clearTimeout(timer)
      await collect()
    },
    async close() {
      closed = true
      clearTimeout(timer)
      timer = undefined
      await running
    },
  }
}
