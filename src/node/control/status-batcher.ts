import type { StatusEntry } from '../../cluster/index.ts'

export interface StatusBatcherOptions {
  /** Sends one batch; false when it could not (not connected): the batch is kept for later. */
  send(updates: StatusEntry[]): boolean
  /** Default 500 ms. */
  intervalMs?: number
  /** A batch is sent at once when this many updates are waiting. Default 1,000. */
  maxBatch?: number
}

/**
 * Collects executor status changes and sends them as `status` messages: every
 * `intervalMs`, or at once when `maxBatch` are waiting. Updates for the same CID coalesce
 * (only the latest is sent), so memory is bounded by the CIDs that changed while the
 * control channel was down; `flush()` (e.g. on reconnect) sends what is waiting.
 */
export class StatusBatcher {
  readonly #send: (updates: StatusEntry[]) => boolean
  readonly #intervalMs: number
  readonly #maxBatch: number
  #pending = new Map<string, StatusEntry>()
  #timer: NodeJS.Timeout | undefined

  constructor(options: StatusBatcherOptions) {
    this.#send = options.send
    this.#intervalMs = options.intervalMs ?? 500
    this.#maxBatch = options.maxBatch ?? 1000
  }

  get pending(): number {
    return this.#pending.size
  }

  add(update: StatusEntry): void {
    this.#pending.delete(update.cid) // re-insert: keeps send order by latest change
    this.#pending.set(update.cid, update)
    if (this.#pending.size >= this.#maxBatch) this.flush()
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), this.#intervalMs)
      this.#timer.unref?.()
    }
  }

  /** Sends everything waiting, in batches of at most `maxBatch`; keeps what could not be sent. */
  flush(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    while (this.#pending.size > 0) {
      const batch: StatusEntry[] = []
      for (const update of this.#pending.values()) {
        batch.push(update)
        if (batch.length >= this.#maxBatch) break
      }
      if (!this.#send(batch)) return
      for (const update of batch) {
        if (this.#pending.get(update.cid) === update) this.#pending.delete(update.cid)
      }
    }
  }

  stop(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
