import type { StatusEntry } from '../../cluster/index.ts'
import type { OutboxEntry } from '../executor/queue-store.ts'

export interface StatusOutboxOptions {
  /** The durable outbox (the executor's queue rows not yet acknowledged). */
  store: {
    unreported(limit: number): OutboxEntry[]
    markReported(entries: Iterable<Pick<OutboxEntry, 'cid' | 'rev'>>): void
  }
  /** Sends one `status` message; false when it could not (not connected). */
  send(message: { type: 'status'; id: number; updates: StatusEntry[] }): boolean
  /** Status changes are collected this long before a batch goes out. Default 200 ms. */
  intervalMs?: number
  /** Updates per `status` message. Default 1,000. */
  maxBatch?: number
  /** A batch not acknowledged within this is sent again (a coordinator that never acks). Default 60 s. */
  ackTimeoutMs?: number
}

/**
 * Sends executor statuses to the coordinator from the durable outbox in node-state.sqlite
 * and removes them only once the coordinator acknowledged them (`status-ack`), so a node
 * that dies or stops right after pinning reports it after its restart instead of never.
 *
 * - One batch is in flight at a time; the next goes when it is acknowledged (the
 *   coordinator records a batch before acknowledging it, so this is its pace anyway).
 * - An entry carries the row's revision: a status that changed while its batch was in
 *   flight stays in the outbox and goes in the next batch (only the latest status is sent).
 * - `disconnected()` forgets the batch in flight; `flush()` after the next welcome resends
 *   everything unacknowledged. The coordinator's handling is idempotent, so duplicates are
 *   harmless.
 */
export class StatusOutbox {
  readonly #options: StatusOutboxOptions
  readonly #intervalMs: number
  readonly #maxBatch: number
  #inFlight: { id: number; entries: OutboxEntry[]; timer: NodeJS.Timeout } | undefined
  #nextId = 1
  #timer: NodeJS.Timeout | undefined

  constructor(options: StatusOutboxOptions) {
    this.#options = options
    this.#intervalMs = options.intervalMs ?? 200
    this.#maxBatch = options.maxBatch ?? 1000
  }

  /** A status changed (it is in the store already): send it soon. */
  changed(): void {
    if (this.#timer !== undefined) return
    this.#timer = setTimeout(() => this.flush(), this.#intervalMs)
    this.#timer.unref?.()
  }

  /** Sends the next batch unless one is in flight or nothing is waiting. */
  flush(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#inFlight !== undefined) return
    const entries = this.#options.store.unreported(this.#maxBatch)
    if (entries.length === 0) return
    const id = this.#nextId++
    const updates = entries.map(({ rev: _, ...update }) => update)
    if (!this.#options.send({ type: 'status', id, updates })) return
    const timer = setTimeout(() => {
      if (this.#inFlight?.id !== id) return
      this.#inFlight = undefined
      this.flush()
    }, this.#options.ackTimeoutMs ?? 60_000)
    timer.unref?.()
    this.#inFlight = { id, entries, timer }
  }

  /** The coordinator recorded batch `id`. */
  acked(id: number): void {
    const batch = this.#inFlight
    if (batch?.id !== id) return
    clearTimeout(batch.timer)
    this.#inFlight = undefined
    this.#options.store.markReported(batch.entries)
    this.flush()
  }

  /** The session ended: its batch will never be acknowledged. */
  disconnected(): void {
    clearTimeout(this.#inFlight?.timer)
    this.#inFlight = undefined
  }

  stop(): void {
    this.disconnected()
    clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
