import type { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import type { Repo } from '../../repo/index.ts'
import { bearerSource, createBandwidthLimiter, fetchDag } from '../../transfer/fetch/index.ts'
import type { ClusterService } from '../cluster/index.ts'
import type { CoordinatorMetrics } from '../metrics/coordinator-metrics.ts'

export interface OriginRepairOptions {
  repo: Repo
  cluster: Pick<ClusterService, 'locate'>
  /** The coordinator's own base URL, left out of the sources (its copy is the damaged one). */
  selfUrl: () => string | undefined
  metrics: Pick<CoordinatorMetrics, 'corruptBlocks'>
  logger: Logger
  /** Between scrubs; 0 = never. The first scrub runs `firstScrubDelayMs` after `start`. */
  scrubIntervalMs: number
  firstScrubDelayMs?: number
  /** Read rate cap of a scrub's verify; 0 or absent = none. */
  scrubBytesPerSecond?: number
  /** A damaged pin no node could give back is tried again this often (default 30 s). */
  retryMs?: number
}

/** Retries of a failed fetch-back (an hour at the default `retryMs`). */
const MAX_RETRIES = 120

/**
 * Keeps the origin repo whole from the storage nodes' copies. A read that meets a corrupt
 * block (`onCorruptBlock`) drops it with the pins that held it and fetches those pins back
 * at once from nodes reporting them pinned (`fetchDag`, every block verified, with the peer
 * token bound to each node that `locate` gives); the scrub does the same for every block
 * (`verify --drop`), and so also for DAGs left incomplete by a `repo verify --drop` run while
 * the coordinator was stopped. A pin no node could give back (none holds it, or none is
 * connected yet — the first scrub runs seconds after a start) is logged (`unrepaired`) and
 * tried again every `retryMs` until it is whole, so it is never left dropped for ever.
 * Repairs of one pin never run twice at once; scrubs never overlap.
 */
export class OriginRepairer {
  readonly #options: OriginRepairOptions
  readonly #inFlight = new Map<string, Promise<void>>()
  /** Damaged pins whose last fetch-back failed, retried on a timer, with the failures so far. */
  readonly #unrepaired = new Map<string, { pin: CID; failures: number }>()
  #timers: NodeJS.Timeout[] = []
  #scrub: Promise<void> | undefined
  #stopped = false

  constructor(options: OriginRepairOptions) {
    this.#options = options
  }

  start(): void {
    const { scrubIntervalMs, firstScrubDelayMs = 10_000 } = this.#options
    // retries serve read-path repairs too, so they run whether or not scrubs do
    this.#timers = [setInterval(() => void this.retryUnrepaired(), this.#options.retryMs ?? 30_000)]
    if (scrubIntervalMs > 0) {
      const run = () => void this.scrub()
      this.#timers.push(setTimeout(run, firstScrubDelayMs), setInterval(run, scrubIntervalMs))
    }
    for (const t of this.#timers) t.unref?.()
  }

  /** For `openRepo`'s `onCorruptBlock`: never throws. */
  repairBlock(cid: CID): void {
    if (this.#stopped) return
    this.#options.repo
      .dropCorrupt(cid)
      .then((pins) => Promise.all(pins.map((pin) => this.refetch(pin))))
      .catch((err: unknown) => this.#options.logger.error({ err, cid: cid.toString() }, 'repair of a corrupt block failed'))
  }

  /** Verifies every block, drops bad ones, and fetches every damaged pin back. Joins a running scrub. */
  scrub(): Promise<void> {
    this.#scrub ??= this.#runScrub().finally(() => {
      this.#scrub = undefined
    })
    return this.#scrub
  }

  async #runScrub(): Promise<void> {
    const { repo, logger } = this.#options
    try {
      const rate = this.#options.scrubBytesPerSecond ?? 0
      const result = await repo.verify({ drop: true, ...(rate > 0 ? { throttle: createBandwidthLimiter(rate) } : {}) })
      for (const pin of result.damagedPins) {
        if (this.#stopped) return
        await repo.pins.rm(pin)
        await this.refetch(pin)
      }
      const summary = { checked: result.checked, corrupt: result.corrupt.length, missing: result.missing.length, damagedPins: result.damagedPins.length }
      if (result.damagedPins.length > 0) logger.warn(summary, 'scrub: damaged pins re-fetched from nodes')
      else logger.info(summary, 'scrub: origin repo verified')
    } catch (err) {
      logger.error({ err }, 'scrub failed')
    }
  }

  /** Fetches every damaged pin whose fetch-back failed again (the retry timer's work). */
  async retryUnrepaired(): Promise<void> {
    for (const { pin } of [...this.#unrepaired.values()]) {
      if (this.#stopped) return
      await this.refetch(pin)
    }
  }

  /** Fetches `pin`'s DAG from nodes holding it and pins it again; at most one fetch per pin at a time. */
  refetch(pin: CID): Promise<void> {
    const key = pin.toString()
    let running = this.#inFlight.get(key)
    if (running === undefined) {
      running = this.#refetch(pin).finally(() => this.#inFlight.delete(key))
      this.#inFlight.set(key, running)
    }
    return running
  }

  async #refetch(pin: CID): Promise<void> {
    const { repo, cluster, metrics, logger } = this.#options
    const self = this.#options.selfUrl()?.replace(/\/+$/, '')
    const { sources: [located], tokens } = await cluster.locate([pin.toString()])
    const urls = (located?.urls ?? []).filter((url) => url !== self)
    if (urls.length === 0) {
      this.#failed(pin)
      logger.error({ cid: pin.toString() }, 'repair: no storage node holds a copy of a damaged pin (will retry)')
      return
    }
    // each node gets the token bound to it, never one another node could replay
    const sources = urls.map((url) => bearerSource(url, tokens[url]))
    try {
      await repo.runAdd(async () => {
        await fetchDag(pin, repo.blocks, { sources })
        await repo.pins.add(pin, { recursive: true })
      })
      this.#unrepaired.delete(pin.toString())
      metrics.corruptBlocks.inc({ outcome: 'repaired' })
      logger.warn({ cid: pin.toString(), sources: urls.length }, 'repair: damaged pin fetched back from storage nodes')
    } catch (err) {
      this.#failed(pin)
      logger.error({ err, cid: pin.toString() }, 'repair: fetching a damaged pin back failed (will retry)')
    }
  }

  /**
   * Counts a failed fetch-back once per pin and keeps the pin for the retry timer, at most
   * `MAX_RETRIES` times (a pin released meanwhile, or held by no node, is not retried for ever).
   */
  #failed(pin: CID): void {
    const key = pin.toString()
    const failures = (this.#unrepaired.get(key)?.failures ?? 0) + 1
    if (failures === 1) this.#options.metrics.corruptBlocks.inc({ outcome: 'unrepaired' })
    if (failures > MAX_RETRIES) {
      this.#unrepaired.delete(key)
      this.#options.logger.error({ cid: key, failures }, 'repair: giving up on a damaged pin no storage node gave back')
    } else this.#unrepaired.set(key, { pin, failures })
  }

  async close(): Promise<void> {
    this.#stopped = true
    for (const t of this.#timers) clearTimeout(t)
    await Promise.allSettled([this.#scrub, ...this.#inFlight.values()])
  }
}
