import { AsyncLocalStorage } from 'node:async_hooks'
import { PinfoldError } from '../core/index.ts'

type Mode = 'shared' | 'exclusive'

/**
 * A FIFO readers–writer lock for async work (adds hold it shared, GC exclusive).
 *
 * - Fair: a waiting exclusive holder blocks later shared requests, so GC cannot starve.
 * - Re-entrant through async context: code already running under the lock (e.g. `pins.add`
 *   inside `runAdd`) does not acquire it again, so nesting never deadlocks. Asking for the
 *   exclusive lock while holding the shared one throws `ERR_LOCK_UPGRADE`.
 */
export class RwLock {
  readonly #als = new AsyncLocalStorage<Mode>()
  readonly #queue: Array<{ mode: Mode; grant: () => void }> = []
  #readers = 0
  #writer = false

  /** Runs `fn` holding the lock shared; concurrent with other shared holders. */
  async shared<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#als.getStore() !== undefined) return fn()
    await this.#acquire('shared')
    try {
      return await this.#als.run('shared', fn)
    } finally {
      this.#release('shared')
    }
  }

  /** Runs `fn` holding the lock exclusively; waits for current holders to finish. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const held = this.#als.getStore()
    if (held === 'exclusive') return fn()
    if (held === 'shared') {
      throw new PinfoldError('ERR_LOCK_UPGRADE', 'cannot run GC/verify --drop from inside an add (runAdd)')
    }
    await this.#acquire('exclusive')
    try {
      return await this.#als.run('exclusive', fn)
    } finally {
      this.#release('exclusive')
    }
  }

  /**
   * Like `exclusive`, but always as a new holder, whatever lock the caller's async context
   * holds: for work started from inside a holder that must not wait for it (a read inside an
   * add that met a corrupt block). It waits until current holders finish, so a holder must
   * never await it (that would deadlock).
   */
  exclusiveDetached<T>(fn: () => Promise<T>): Promise<T> {
    return this.#als.exit(() => this.exclusive(fn))
  }

  #acquire(mode: Mode): Promise<void> {
    if (this.#queue.length === 0 && this.#canGrant(mode)) {
      this.#take(mode)
      return Promise.resolve()
    }
    return new Promise((resolve) => this.#queue.push({ mode, grant: resolve }))
  }

  #canGrant(mode: Mode): boolean {
    return mode === 'shared' ? !this.#writer : !this.#writer && this.#readers === 0
  }

  #take(mode: Mode): void {
    if (mode === 'shared') this.#readers++
    else this.#writer = true
  }

  #release(mode: Mode): void {
    if (mode === 'shared') this.#readers--
    else this.#writer = false
    for (;;) {
      const head = this.#queue[0]
      if (head === undefined || !this.#canGrant(head.mode)) return
      this.#queue.shift()
      this.#take(head.mode)
      head.grant()
    }
  }
}
