import type { ProgressEvent, ProgressOptions } from '../core/index.ts'
import type { FsBlockstore } from './fs-blockstore.ts'
import type { RepoIndex } from './repo-index.ts'
import type { RwLock } from './rw-lock.ts'

export interface GcResult {
  removedBlocks: number
  removedBytes: number
}

export type GcProgressEvent =
  | ProgressEvent<'gc:marked', { garbageBlocks: number }>
  | ProgressEvent<'gc:removed', { removedBlocks: number; removedBytes: number }>

const SWEEP_CHUNK = 1000

/**
 * Removes every block reachable from no pin. Takes the add lock exclusively (waits for
 * running `runAdd`/`pins.add`, and they wait for it), flushes queued blocks, then marks
 * (recursive SQL over the links table, no block reads) and sweeps (index rows first, then
 * files) with no batch committing meanwhile. Abort stops between sweep chunks; what was
 * removed stays removed.
 */
export async function collectGarbage(
  index: RepoIndex,
  blocks: FsBlockstore,
  lock: RwLock,
  options: ProgressOptions<GcProgressEvent> = {},
): Promise<GcResult> {
  return lock.exclusive(async () => {
    await blocks.flush(options)
    return blocks.exclusive(async () => {
      const garbage = index.garbage()
      options.onProgress?.({ type: 'gc:marked', detail: { garbageBlocks: garbage.length } })
      const result: GcResult = { removedBlocks: 0, removedBytes: 0 }
      for (let i = 0; i < garbage.length; i += SWEEP_CHUNK) {
        options.signal?.throwIfAborted()
        const chunk = garbage.slice(i, i + SWEEP_CHUNK)
        result.removedBytes += await blocks.removeRows(chunk)
        result.removedBlocks += chunk.length
        options.onProgress?.({ type: 'gc:removed', detail: { ...result } })
      }
      return result
    })
  })
}
