import type { Logger } from 'pino'
import { Counter, Gauge } from 'prom-client'
import type { Registry } from '../../registry/index.ts'
import type { CoordinatorMetrics } from '../metrics/coordinator-metrics.ts'

const MS_PER_HOUR = 3_600_000

/**
 * Usage metering that the coordinator does itself (upload and download bytes are recorded
 * by the routes that move them):
 *
 * - **Storage over time.** Every `sampleIntervalMs` the sampler records, for each account
 *   storing anything, `storage_byte_hours` = stored bytes now × hours since the previous
 *   sample. The previous sample's time is the newest `storage_byte_hours` record of any
 *   account (persisted, so a restart neither double-counts nor skips the downtime, which is
 *   charged at the bytes stored at the next sample), or the last run of this process when
 *   that is newer (a run where nobody stored anything writes no record). On a fresh registry
 *   counting starts when the meter starts. Several coordinators sharing a database may each
 *   sample: each one counts only the time since the newest record, so the total stays right
 *   apart from a race between two samples running at the very same moment.
 * - **Requests.** Authenticated requests are counted per account in memory
 *   ({@link UsageMeter.countRequest}, no database access per request) and written as one
 *   `requests` record per account every `flushIntervalMs` and at close. Counts of a failed
 *   flush are kept for the next one.
 *
 * `start` and `close` are each called once; `sampleStorage` and `flushRequests` may be
 * called at any time (tests) and never run concurrently with themselves.
 */
export interface UsageMeter {
  start(): void
  countRequest(accountId: string): void
  /** Records storage byte-hours for every account now; resolves with the number of records written. */
  sampleStorage(at?: number): Promise<number>
  /** Writes the pending request counts; resolves with the number of records written. */
  flushRequests(at?: number): Promise<number>
  /** Stops the timers and flushes pending request counts. Idempotent. */
  close(): Promise<void>
}

export interface UsageMeterOptions {
  registry: Registry
  logger: Logger
  metrics: CoordinatorMetrics
  sampleIntervalMs: number
  flushIntervalMs: number
  /** Clock, ms since the epoch (tests); default Date.now. */
  now?: () => number
}

export function createUsageMeter(options: UsageMeterOptions): UsageMeter {
  const { registry, logger, metrics, sampleIntervalMs, flushIntervalMs, now = Date.now } = options
  const startedAt = now()
  let lastSampleAt: number | undefined
  let pending = new Map<string, number>()
  let sampling: Promise<number> | undefined
  let flushing: Promise<number> | undefined
  let timers: NodeJS.Timeout[] = []
  let closed: Promise<void> | undefined

  const samples = new Counter({
    name: 'pinfold_usage_storage_samples_total',
    help: 'storage usage samples taken, by outcome',
    labelNames: ['outcome'],
    registers: [metrics.registry],
  })
  const accounts = new Gauge({ name: 'pinfold_accounts', help: 'accounts in the registry, as of the last storage sample', registers: [metrics.registry] })
  const storedBytes = new Gauge({ name: 'pinfold_stored_bytes', help: 'bytes stored by all accounts (each account counting its distinct CIDs), as of the last storage sample', registers: [metrics.registry] })
  const requestRecords = new Counter({ name: 'pinfold_usage_request_records_total', help: 'requests usage records written', registers: [metrics.registry] })

  async function doSample(at: number): Promise<number> {
    const persisted = await registry.usage.latestTs('storage_byte_hours')
    const since = Math.max(persisted ?? startedAt, lastSampleAt ?? Number.NEGATIVE_INFINITY)
    if (at <= since) return 0
    const hours = (at - since) / MS_PER_HOUR
    let written = 0
    let seen = 0
    let total = 0
    let cursor: string | undefined
    do {
      const page = await registry.accounts.list({ limit: 500, cursor })
      for (const account of page.items) {
        seen++
        const bytes = await registry.entries.storedBytes(account.id)
        total += bytes
        if (bytes <= 0) continue
        await registry.usage.record(account.id, 'storage_byte_hours', bytes * hours, at)
        written++
      }
      cursor = page.cursor
    } while (cursor !== undefined)
    lastSampleAt = at
    accounts.set(seen)
    storedBytes.set(total)
    return written
  }

  async function doFlush(at: number): Promise<number> {
    if (pending.size === 0) return 0
    const batch = pending
    pending = new Map()
    let written = 0
    for (const [accountId, count] of batch) {
      try {
        await registry.usage.record(accountId, 'requests', count, at)
        written++
        batch.delete(accountId)
      } catch (error) {
        logger.warn({ err: error, accountId }, 'could not record request usage; keeping it for the next flush')
        break
      }
    }
    for (const [accountId, count] of batch) pending.set(accountId, (pending.get(accountId) ?? 0) + count)
    requestRecords.inc(written)
    return written
  }

  const meter: UsageMeter = {
    start() {
      const sample = () =>
        meter.sampleStorage().catch((error: unknown) => logger.error({ err: error }, 'storage usage sample failed'))
      const flush = () =>
        meter.flushRequests().catch((error: unknown) => logger.error({ err: error }, 'request usage flush failed'))
      timers = [setInterval(sample, sampleIntervalMs), setInterval(flush, flushIntervalMs)]
      for (const timer of timers) timer.unref()
    },
    countRequest(accountId) {
      pending.set(accountId, (pending.get(accountId) ?? 0) + 1)
    },
    async sampleStorage(at = now()) {
      // one sample at a time: a slow one makes the next tick wait for it rather than overlap
      while (sampling) await sampling.catch(() => undefined)
      const mine = doSample(at)
      sampling = mine
      try {
        const written = await mine
        samples.inc({ outcome: 'ok' })
        return written
      } catch (error) {
        samples.inc({ outcome: 'error' })
        throw error
      } finally {
        if (sampling === mine) sampling = undefined
      }
    },
    async flushRequests(at = now()) {
      while (flushing) await flushing.catch(() => undefined)
      const mine = doFlush(at)
      flushing = mine
      try {
        return await mine
      } finally {
        if (flushing === mine) flushing = undefined
      }
    },
    close() {
      closed ??= (async () => {
        for (const timer of timers) clearInterval(timer)
        await sampling?.catch(() => undefined)
        await meter.flushRequests().catch((error: unknown) => logger.error({ err: error }, 'final request usage flush failed'))
      })()
      return closed
    },
  }
  return meter
}
