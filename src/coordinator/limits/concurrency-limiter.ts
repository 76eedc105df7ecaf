import type { ServerResponse } from 'node:http'
import { PinfoldError } from '../../core/index.ts'

/**
 * At most `max` holders per key at once (keys are accounts or addresses). `tryAcquire`
 * never waits: over the limit it answers `undefined` and the caller refuses the request,
 * so a client cannot queue unbounded work behind a busy key. Releasing is idempotent.
 * Memory is one map entry per key currently holding a slot.
 */
export interface ConcurrencyLimiter {
  /** Slots per key; 0 = unlimited. */
  readonly max: number
  /** A release function for a free slot of `key`, or `undefined` when all `max` are taken. */
  tryAcquire(key: string): (() => void) | undefined
  /** Slots `key` holds now (metrics, tests). */
  held(key: string): number
}

/** `max` = 0 means unlimited (every acquire succeeds, nothing is counted). */
export function createConcurrencyLimiter(max: number): ConcurrencyLimiter {
  const holders = new Map<string, number>()
  return {
    max,
    tryAcquire(key) {
      if (max === 0) return () => {}
      const held = holders.get(key) ?? 0
      if (held >= max) return undefined
      holders.set(key, held + 1)
      let released = false
      return () => {
        if (released) return
        released = true
        const left = (holders.get(key) ?? 1) - 1
        if (left <= 0) holders.delete(key)
        else holders.set(key, left)
      }
    },
    held: (key) => holders.get(key) ?? 0,
  }
}

/** The 429 for a key whose heavy-read slots are all taken. */
export class TooManyHeavyReadsError extends PinfoldError {
  constructor(max: number) {
    super('ERR_TOO_MANY_HEAVY_READS', `more than ${max} directory listings or exports at once; retry when one ends`, { userError: true })
  }
}

/**
 * Takes one of the account's heavy-read slots until `res` closes (the answer was sent or the
 * client left), or throws {@link TooManyHeavyReadsError}.
 */
export function holdHeavyRead(limiter: ConcurrencyLimiter, accountId: string, res: ServerResponse): void {
  const release = limiter.tryAcquire(`account:${accountId}`)
  if (release === undefined) throw new TooManyHeavyReadsError(limiter.max)
  res.once('close', release)
}
