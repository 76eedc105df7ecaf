import { setTimeout as sleep } from 'node:timers/promises'
import { AbortedError, type AbortOptions, InvalidOptionError } from '../../core/index.ts'

/**
 * A token bucket over bytes. `take(n)` spends `n` tokens and waits while the bucket is in
 * debt, so any number of concurrent readers sharing one limiter together stay under
 * `bytesPerSecond` (averaged over about `burstBytes`). Share one per node to cap all of
 * its replication; each `fetchDag` given a number builds its own.
 */
export interface BandwidthLimiter {
  readonly bytesPerSecond: number
  /**
   * Accounts for `bytes` just read and resolves when reading more is allowed. Rejects with
   * `ERR_ABORTED` when `signal` fires while waiting (the bytes are then refunded).
   */
  take(bytes: number, options?: AbortOptions): Promise<void>
}

export interface BandwidthLimiterOptions {
  /** Bucket size: bytes that may pass at once after an idle period. Default a tenth of a second's worth (≥ 16 KiB). */
  burstBytes?: number
}

/** Creates a shared token bucket; see {@link BandwidthLimiter}. */
export function createBandwidthLimiter(bytesPerSecond: number, options: BandwidthLimiterOptions = {}): BandwidthLimiter {
  if (!Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0) {
    throw new InvalidOptionError('bandwidth must be a positive number of bytes per second')
  }
  const burst = options.burstBytes ?? Math.max(16 * 1024, bytesPerSecond / 10)
  if (!Number.isFinite(burst) || burst <= 0) throw new InvalidOptionError('burstBytes must be positive')
  let tokens = burst
  let last = performance.now()
  return {
    bytesPerSecond,
    async take(bytes, takeOptions = {}) {
      const now = performance.now()
      tokens = Math.min(burst, tokens + ((now - last) * bytesPerSecond) / 1000)
      last = now
      tokens -= bytes
      if (tokens >= 0) return
      const waitMs = (-tokens * 1000) / bytesPerSecond
      try {
        await sleep(waitMs, undefined, { signal: takeOptions.signal })
      } catch {
        tokens += bytes
        throw new AbortedError()
      }
    },
  }
}
