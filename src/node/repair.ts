import type { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import type { ReadThrottle, Repo, VerifyResult } from '../repo/index.ts'
import type { EnqueueRequest } from './executor/queue-store.ts'

export interface RepairOptions {
  repo: Repo
  /** Durably queues forced pins for the damaged DAGs. */
  enqueue(requests: EnqueueRequest[]): void
  logger: Logger
  /** Between scheduled runs; 0 disables the schedule (on demand only). Default 60 min. */
  intervalMs?: number
  /** Paces a run's reads (`--repair-bandwidth`), so serving keeps the disk; none when absent. */
  throttle?: () => ReadThrottle
}

export interface RepairResult extends VerifyResult {
  requeued: number
}

/**
 * Periodic and on-demand repair: `repo.verify({ drop: true })` re-hashes every block and
 * removes corrupt and missing ones; each damaged pin is then removed (its DAG is no longer
 * whole, and a pin must never name an incomplete DAG) and queued as a forced pin, so the
 * executor fetches the missing subtrees back from peers — durable in the queue, so a restart
 * still finishes it. Runs never overlap.
 */
export class Repairer {
  readonly #options: RepairOptions
  #timer: NodeJS.Timeout | undefined
  #running: Promise<RepairResult> | undefined
  #stopped = false

  constructor(options: RepairOptions) {
    this.#options = options
  }

  start(): void {
    const interval = this.#options.intervalMs ?? 60 * 60_000
    if (interval <= 0) return
    this.#timer = setInterval(() => {
      this.run().catch((err: unknown) => this.#options.logger.error({ err }, 'repair failed'))
    }, interval)
    this.#timer.unref?.()
  }

  /** Runs now (or joins the run in progress). */
  run(): Promise<RepairResult> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined
    })
    return this.#running
  }

  /**
   * Repairs at once after a read refused a corrupt block (the repo's `onCorruptBlock`):
   * drops the block and the pins that held it, and queues those pins as forced pins so the
   * executor fetches the missing blocks back from peers — the same repair as a scheduled
   * run, for just those pins. Never throws (failures are logged); repeated calls for one
   * block are harmless (the second finds it gone and no pin above it).
   */
  async repairBlock(cid: CID): Promise<void> {
    if (this.#stopped) return
    const { repo, logger } = this.#options
    try {
      const pins = await repo.dropCorrupt(cid)
      if (pins.length > 0) this.#options.enqueue(pins.map((pin) => ({ cid: pin.toString(), action: 'pin', force: true })))
      logger.warn({ cid: cid.toString(), requeued: pins.length }, 'repair: corrupt block dropped, its pins queued for re-fetch')
    } catch (err) {
      logger.error({ err, cid: cid.toString() }, 'repair of a corrupt block failed')
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timer)
    await this.#running?.catch(() => {})
  }

  async #run(): Promise<RepairResult> {
    const { repo, logger } = this.#options
    const started = performance.now()
    const throttle = this.#options.throttle?.()
    const result = await repo.verify({ drop: true, ...(throttle ? { throttle } : {}) })
    const requests: EnqueueRequest[] = []
    for (const cid of result.damagedPins) {
      if (this.#stopped) break
      await repo.pins.rm(cid)
      requests.push({ cid: cid.toString(), action: 'pin', force: true })
    }
    if (requests.length > 0) this.#options.enqueue(requests)
    const summary = {
      checked: result.checked,
      corrupt: result.corrupt.length,
      missing: result.missing.length,
      dropped: result.dropped,
      damagedPins: result.damagedPins.length,
      ms: Math.round(performance.now() - started),
    }
    if (requests.length > 0) logger.warn(summary, 'repair: damaged pins queued for re-fetch')
    else logger.info(summary, 'repair: repo verified')
    return { ...result, requeued: requests.length }
  }
}
