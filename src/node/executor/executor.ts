import type { Logger } from 'pino'
import type { AbortOptions } from '../../core/index.ts'
import type { StatusEntry } from '../../cluster/index.ts'
import { type EnqueueRequest, type QueueItem, type QueueStore, statusOf } from './queue-store.ts'

/** What actually pins and unpins; both must be idempotent. */
export interface ExecutorWorker {
  pin(cid: string, options: AbortOptions): Promise<void>
  unpin(cid: string, options: AbortOptions): Promise<void>
}

export interface ExecutorOptions {
  store: QueueStore
  worker: ExecutorWorker
  /** Called for every status change (queued, pinning, pinned, failed, unpinning, unpinned). */
  onStatus?: (update: StatusEntry) => void
  logger: Logger
  /** Items loaded from SQLite at a time (bounded memory). Default 10,000. */
  chunkSize?: number
  /** Actions running at once. Default 4. */
  concurrency?: number
  /** Delay before retry number `attempts` (≥ 1). Default 1 s × 2^(attempts−1), capped at 10 min, with ±20 % jitter. */
  backoff?: (attempts: number) => number
  now?: () => number
  /** Observes chunk loads (tests, metrics). */
  onChunk?: (size: number) => void
}

export interface ExecutorStats {
  queued: number
  pinning: number
  pinned: number
  failed: number
  unpinning: number
  unpinned: number
  /** Items currently running. */
  running: number
}

export const DEFAULT_CHUNK_SIZE = 10_000
export const DEFAULT_CONCURRENCY = 4
const BACKOFF_BASE_MS = 1000
const BACKOFF_CAP_MS = 10 * 60_000

export function defaultBackoff(attempts: number): number {
  const base = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempts - 1))
  return Math.round(base * (0.8 + Math.random() * 0.4))
}

/**
 * Runs the node's persisted queue: pins what is wanted and unpins what is not.
 *
 * - Loads due items from the {@link QueueStore} `chunkSize` at a time (never the whole
 *   queue), runs at most `concurrency` at once, and loads the next chunk when the buffer
 *   runs dry. A CID is never run twice at once.
 * - Before running an item its row is re-read: a desire that changed after the chunk was
 *   loaded wins. Outcomes are written only if the desire is unchanged (generation check).
 * - Failures are retried after `backoff(attempts)`; attempts and the reason are kept.
 * - Restart-safe: everything lives in the store; running items are queued again on open.
 *
 * `enqueue` is durable when it returns. `stop()` aborts running actions and resolves once
 * they settled; their rows stay queued/active and resume on the next start.
 */
export class Executor {
  readonly #store: QueueStore
  readonly #worker: ExecutorWorker
  readonly #onStatus: (update: StatusEntry) => void
  readonly #log: Logger
  readonly #chunkSize: number
  readonly #concurrency: number
  readonly #backoff: (attempts: number) => number
  readonly #now: () => number
  readonly #onChunk: (size: number) => void
  readonly #abort = new AbortController()
  readonly #running = new Map<string, Promise<void>>()
  #buffer: QueueItem[] = []
  #wake: (() => void) | undefined
  #loop: Promise<void> | undefined
  #stopped = false

  constructor(options: ExecutorOptions) {
    this.#store = options.store
    this.#worker = options.worker
    this.#onStatus = options.onStatus ?? (() => {})
    this.#log = options.logger
    this.#chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE
    this.#concurrency = options.concurrency ?? DEFAULT_CONCURRENCY
    this.#backoff = options.backoff ?? defaultBackoff
    this.#now = options.now ?? Date.now
    this.#onChunk = options.onChunk ?? (() => {})
  }

  start(): void {
    if (this.#loop !== undefined) return
    this.#loop = this.#run().catch((err: unknown) => {
      this.#log.error({ err }, 'executor loop failed')
    })
  }

  /** Durably records desires (with `meta`, e.g. the feed cursor, in the same transaction) and wakes the loop. */
  enqueue(requests: Iterable<EnqueueRequest>, meta: Record<string, string> = {}): number {
    const changed = this.#store.enqueue(requests, meta, this.#now())
    for (const item of changed) this.#report(item)
    if (changed.length > 0) this.#kick()
    return changed.length
  }

  /**
   * Reports the true status of these CIDs again (anti-entropy found the coordinator's record
   * wrong). `held` are held whole: a done pin is reported again, any other pin desire runs
   * again now (forced; quick, the DAG is there). `lacking` have their current status
   * reported again. CIDs being unpinned are left alone.
   */
  restate(held: Iterable<string>, lacking: Iterable<string>): void {
    const again = [...lacking]
    const pins: EnqueueRequest[] = []
    for (const cid of held) {
      const item = this.#store.get(cid)
      if (item?.action === 'unpin') continue
      if (item?.state === 'done') again.push(cid)
      else pins.push({ cid, action: 'pin', force: true })
    }
    this.#store.markUnreported(again)
    for (const cid of again) {
      const item = this.#store.get(cid)
      if (item !== undefined) this.#report(item)
    }
    if (pins.length > 0) this.enqueue(pins)
  }

  stats(): ExecutorStats {
    return { ...this.#store.counts(), running: this.#running.size }
  }

  /** Resolves when nothing is due or running (tests, `drain`). */
  async idle(options: { pollMs?: number } = {}): Promise<void> {
    for (;;) {
      if (this.#running.size === 0 && this.#buffer.length === 0 && this.#store.due(this.#now(), 1).length === 0) return
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 10))
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true
    this.#abort.abort()
    this.#kick()
    await this.#loop
    await Promise.allSettled(this.#running.values())
  }

  #kick(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      if (this.#running.size >= this.#concurrency) {
        await this.#sleep(undefined)
        continue
      }
      if (this.#buffer.length === 0) this.#load()
      const item = this.#buffer.shift()
      if (item === undefined) {
        const next = this.#store.nextDueAt()
        await this.#sleep(next === undefined ? undefined : Math.max(0, next - this.#now()))
        continue
      }
      if (this.#running.has(item.cid)) continue
      // The desire may have changed since the chunk was loaded.
      const current = this.#store.get(item.cid)
      if (current === undefined || current.state === 'done' || current.state === 'active') continue
      if (current.nextAt > this.#now()) continue
      const task = this.#execute(current).finally(() => {
        this.#running.delete(current.cid)
        this.#kick()
      })
      this.#running.set(current.cid, task)
    }
  }

  #load(): void {
    const items = this.#store.due(this.#now(), this.#chunkSize + this.#running.size).filter((i) => !this.#running.has(i.cid))
    this.#buffer = items.slice(0, this.#chunkSize)
    if (this.#buffer.length > 0) {
      this.#onChunk(this.#buffer.length)
      this.#log.debug({ chunk: this.#buffer.length }, 'loaded chunk')
    }
  }

  /** Waits for a kick, or `ms` when given (a kick comes on enqueue, on completion and on stop). */
  async #sleep(ms: number | undefined): Promise<void> {
    if (this.#stopped) return
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined
      this.#wake = () => {
        if (timer !== undefined) clearTimeout(timer)
        resolve()
      }
      // Long waits are capped, so a clock that moves (tests) or a missed kick cannot stall work.
      if (ms !== undefined || this.#running.size === 0) {
        timer = setTimeout(() => {
          this.#wake = undefined
          resolve()
        }, Math.min(ms ?? 1000, 1000))
      }
    })
  }

  async #execute(item: QueueItem): Promise<void> {
    const active: QueueItem = { ...item, state: 'active' }
    if (!this.#store.setOutcome(active, this.#now())) return
    this.#report(active)
    const signal = this.#abort.signal
    try {
      if (item.action === 'pin') await this.#worker.pin(item.cid, { signal })
      else await this.#worker.unpin(item.cid, { signal })
      const done: QueueItem = { ...item, state: 'done', nextAt: 0 }
      delete done.reason
      if (this.#store.setOutcome(done, this.#now())) this.#report(done)
    } catch (err) {
      if (this.#stopped) return // stays active → queued again on the next start
      const attempts = item.attempts + 1
      const reason = err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err)
      const failed: QueueItem = {
        ...item,
        state: 'failed',
        attempts,
        nextAt: this.#now() + this.#backoff(attempts),
        reason: reason.slice(0, 2000),
      }
      this.#log.warn({ cid: item.cid, action: item.action, attempts, reason }, `${item.action} failed; will retry`)
      if (this.#store.setOutcome(failed, this.#now())) this.#report(failed)
    }
  }

  #report(item: QueueItem): void {
    const update: StatusEntry = { cid: item.cid, status: statusOf(item), attempts: item.attempts }
    if (item.reason !== undefined) update.reason = item.reason
    try {
      this.#onStatus(update)
    } catch (err) {
      this.#log.warn({ err }, 'status listener failed')
    }
  }
}
