import { PinfoldError } from '../../core/index.ts'

/**
 * Counts failed guesses of a secret per key (an account, an address) in a fixed window that
 * starts at the key's first failure; once `maxFailures` are reached, every attempt for that
 * key — right or wrong — is refused until the window ends, so a correct guess cannot be told
 * from a wrong one while blocked. In memory, per process: each coordinator replica keeps
 * its own counts. Safe to call concurrently (synchronous bookkeeping).
 */
export interface GuessLimiter {
  /** Throws ERR_RATE_LIMITED while `key` is blocked. */
  check(key: string): void
  /** Records a failed attempt for `key`. */
  failed(key: string): void
  /** Forgets `key`'s failures (after a correct guess). */
  succeeded(key: string): void
}

/** Bounds memory under a flood of distinct keys: the oldest entry makes room. */
const MAX_KEYS = 100_000

export function createGuessLimiter(init: {
  maxFailures: number
  windowSeconds: number
  /** What is being guessed, for the error message ("password attempts for this account"). */
  what: string
  clock?: () => number
}): GuessLimiter {
  const clock = init.clock ?? Date.now
  const windowMs = init.windowSeconds * 1000
  const failures = new Map<string, { count: number; since: number }>()

  function current(key: string, at: number) {
    const entry = failures.get(key)
    if (entry !== undefined && at - entry.since >= windowMs) {
      failures.delete(key)
      return undefined
    }
    return entry
  }

  return {
    check(key) {
      const at = clock()
      const entry = current(key, at)
      if (entry === undefined || entry.count < init.maxFailures) return
      const seconds = Math.ceil((entry.since + windowMs - at) / 1000)
      throw new PinfoldError('ERR_RATE_LIMITED', `too many failed ${init.what}; retry in ${seconds} s`, { userError: true })
    },
    failed(key) {
      const at = clock()
      const entry = current(key, at)
      if (entry !== undefined) {
        entry.count++
        return
      }
      if (failures.size >= MAX_KEYS) failures.delete(failures.keys().next().value as string)
      failures.set(key, { count: 1, since: at })
    },
    succeeded(key) {
      failures.delete(key)
    },
  }
}
