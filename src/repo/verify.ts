import type { CID } from 'multiformats/cid'
import { BlockHashMismatchError, type ProgressEvent, type ProgressOptions, verifyBlock } from '../core/index.ts'
import { cidOf, type FsBlockstore, mhKey } from './fs-blockstore.ts'
import type { BlockRow, RepoIndex } from './repo-index.ts'
import type { RwLock } from './rw-lock.ts'

export interface VerifyResult {
  checked: number
  /** Blocks whose bytes do not hash to their CID. */
  corrupt: CID[]
  /** Indexed blocks whose file is gone. */
  missing: CID[]
  /** Blocks removed from index and disk (with `drop`). */
  dropped: number
  /** Pins whose DAG includes a corrupt or missing block (never unpinned silently). */
  damagedPins: CID[]
}

/**
 * Paces reads by bytes (a token bucket such as the transfer layer's bandwidth limiter):
 * `take` resolves when `bytes` more may be read; one throttle may be shared by several runs.
 */
export interface ReadThrottle {
  take(bytes: number): Promise<void>
}

export interface VerifyOptions extends ProgressOptions<ProgressEvent<'verify:progress', { checked: number }>> {
  /** Remove corrupt and missing blocks from index and disk, to be fetched again. */
  drop?: boolean
  /** Caps the read rate, so a scrub leaves the disk to serving (unthrottled when absent). */
  throttle?: ReadThrottle
}

const READ_CONCURRENCY = 8

/**
 * Re-hashes every indexed block. Holds the add lock shared (exclusive with `drop`), so GC
 * does not run meanwhile; blocks added concurrently may or may not be checked.
 */
export async function verifyRepo(
  index: RepoIndex,
  blocks: FsBlockstore,
  lock: RwLock,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const run = options.drop === true ? lock.exclusive.bind(lock) : lock.shared.bind(lock)
  return run(async () => {
    await blocks.flush(options)
    const result: VerifyResult = { checked: 0, corrupt: [], missing: [], dropped: 0, damagedPins: [] }
    const bad: BlockRow[] = []
    const check = async (row: BlockRow): Promise<void> => {
      const cid = cidOf(row.cid)
      let bytes: Uint8Array
      try {
        await options.throttle?.take(row.size)
        bytes = await blocks.readRow(row, { uncached: true })
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
        result.missing.push(cid)
        bad.push(row)
        return
      }
      try {
        await verifyBlock(cid, bytes)
      } catch (err) {
        if (!(err instanceof BlockHashMismatchError)) throw err
        result.corrupt.push(cid)
        bad.push(row)
      }
    }
    let inFlight: Promise<void>[] = []
    for (const row of index.blocks()) {
      options.signal?.throwIfAborted()
      inFlight.push(check(row))
      if (inFlight.length >= READ_CONCURRENCY) {
        await Promise.all(inFlight)
        inFlight = []
      }
      result.checked++
      if (result.checked % 1000 === 0) {
        options.onProgress?.({ type: 'verify:progress', detail: { checked: result.checked } })
      }
    }
    await Promise.all(inFlight)
    options.onProgress?.({ type: 'verify:progress', detail: { checked: result.checked } })
    if (options.drop === true && bad.length > 0) {
      await blocks.exclusive(() => blocks.removeRows(bad))
      result.dropped = bad.length
    }
    const badKeys = new Set(bad.map((r) => mhKey(r.mh)))
    for (const pin of index.pins()) {
      let damaged = index.firstMissing(pin.mh, pin.cid, pin.recursive) !== undefined
      if (!damaged && badKeys.size > 0) {
        const members = pin.recursive ? index.dagMembers(pin.mh) : [pin.mh]
        damaged = members.some((mh) => badKeys.has(mhKey(mh)))
      }
      if (damaged) result.damagedPins.push(cidOf(pin.cid))
    }
    return result
  })
}
