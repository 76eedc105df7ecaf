import { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import { PinfoldError } from '../../core/index.ts'
import type { Registry } from '../../registry/index.ts'
import type { Repo } from '../../repo/index.ts'
import { type FetchDagOptions, type FetchDagResult, fetchDag } from '../../transfer/index.ts'
import { cidForms } from '../files/cid-forms.ts'
import type { ContentReleaser } from '../files/release-content.ts'
import { multiaddrToGatewayUrl } from './multiaddr.ts'

export type FetchDagFn = (root: CID, store: FetchStore, options: FetchDagOptions) => Promise<FetchDagResult>

/** Where a fetch looks for blocks it already has and puts the ones it fetched. */
export type FetchStore = Pick<Repo['blocks'], 'get' | 'has' | 'put' | 'flush'>

export interface OriginFetcherOptions {
  registry: Registry
  repo: Repo
  releaseContent: ContentReleaser
  logger: Logger
  /** Fetches at once (default 4); more wait `queued`. */
  concurrency?: number
  /** Reasons of failed fetches kept for `info.status_details` (default 10,000; oldest dropped). */
  maxFailures?: number
  fetchDag?: FetchDagFn
}

export type FetchState = 'queued' | 'pinning'

interface Job {
  cid: string
  urls: Set<string>
  accountId: string
  state: FetchState
  controller: AbortController
}

class ReleasedError extends PinfoldError {
  constructor() {
    super('ERR_ABORTED', 'the pin was released while fetching')
  }
}

class StorageQuotaError extends PinfoldError {
  constructor(limit: number) {
    super('ERR_QUOTA_EXCEEDED', `the DAG exceeds the account's storage quota (${Math.max(0, limit)} bytes left)`, {
      userError: true,
    })
  }
}

/**
 * Brings pinned content that the origin repo lacks into it from the pin requests'
 * `origins` (HTTP multiaddrs → trustless gateways; other multiaddrs are ignored), one job
 * per account and CID however many of its requests name it, at most `concurrency` at once.
 *
 * Knowing a CID grants nothing: unless the account already holds the CID, its job fetches
 * every block from the origins it named, as if the repo held none of them, so another
 * account's copy is neither a shortcut nor observable (issue 9 item 1). Jobs are per account
 * for the same reason: one account's origins never satisfy another's request.
 *
 * Each job moves its account's requests of its CID queued → pinning → pinned | failed in the
 * registry. The DAG is fetched with the verifying `fetchDag` and pinned in the repo inside
 * `repo.runAdd`, so GC never sees fetched-but-unpinned blocks. A job whose pin was released
 * meanwhile is cancelled, and content pinned after its release is handed to the releaser.
 * A job stopped by `close` leaves its requests queued/pinning: `resume` (at start) takes
 * them up again, and the fetch continues from the blocks already stored.
 */
export class OriginFetcher {
  readonly #options: OriginFetcherOptions
  readonly #fetch: FetchDagFn
  readonly #concurrency: number
  readonly #maxFailures: number
  readonly #jobs = new Map<string, Job>()
  readonly #waiting: Job[] = []
  readonly #failures = new Map<string, string>()
  readonly #running = new Set<Promise<void>>()
  #closed = false

  constructor(options: OriginFetcherOptions) {
    this.#options = options
    this.#fetch = options.fetchDag ?? fetchDag
    this.#concurrency = options.concurrency ?? 4
    this.#maxFailures = options.maxFailures ?? 10_000
  }

  /** Fetches `cid` for `accountId` (unless its job exists, which then also gets these origins). */
  enqueue(cid: string, origins: readonly string[], accountId: string): void {
    if (this.#closed) return
    const urls = origins.map(multiaddrToGatewayUrl).filter((u): u is string => u !== undefined)
    const existing = this.#jobs.get(jobKey(accountId, cid))
    if (existing) {
      for (const url of urls) existing.urls.add(url)
      return
    }
    const job: Job = { cid, urls: new Set(urls), accountId, state: 'queued', controller: new AbortController() }
    this.#jobs.set(jobKey(accountId, cid), job)
    this.#waiting.push(job)
    this.#pump()
  }

  /** `queued`/`pinning` while the account's job for `cid` exists. */
  state(cid: string, accountId: string): FetchState | undefined {
    return this.#jobs.get(jobKey(accountId, cid))?.state
  }

  /** Why the account's last fetch of `cid` failed, if it did (and no later one succeeded). */
  failure(cid: string, accountId: string): string | undefined {
    return this.#failures.get(jobKey(accountId, cid))
  }

  /** Stops every job for `cid` (its pin was released); their requests are gone. */
  cancel(cid: string): void {
    for (const [key, job] of this.#jobs) {
      if (job.cid !== cid) continue
      job.controller.abort(new ReleasedError())
      const i = this.#waiting.indexOf(job)
      if (i >= 0) {
        this.#waiting.splice(i, 1)
        this.#jobs.delete(key)
      }
    }
  }

  /** Re-enqueues every request left queued or pinning (by an earlier process). */
  async resume(): Promise<number> {
    let after: string | undefined
    let count = 0
    for (;;) {
      const page = await this.#options.registry.pinRequests.listByStatus(['queued', 'pinning'], { after, limit: 1000 })
      for (const request of page) {
        if (this.#closed) return count
        this.enqueue(request.cid, request.origins, request.accountId)
        count++
      }
      if (page.length < 1000) return count
      after = page[page.length - 1]?.requestid
    }
  }

  /** Resolves once no job is queued or running (tests). */
  async idle(): Promise<void> {
    while (this.#running.size > 0 || this.#waiting.length > 0) await Promise.race(this.#running)
  }

  /** Aborts running jobs (their requests stay queued/pinning for `resume`) and waits for them. */
  async close(): Promise<void> {
    this.#closed = true
    this.#waiting.length = 0
    for (const job of this.#jobs.values()) job.controller.abort(new PinfoldError('ERR_ABORTED', 'coordinator closing'))
    await Promise.allSettled([...this.#running])
  }

  #pump(): void {
    while (!this.#closed && this.#running.size < this.#concurrency && this.#waiting.length > 0) {
      const job = this.#waiting.shift() as Job
      const run: Promise<void> = this.#run(job)
        .catch((err: unknown) => this.#options.logger.error({ err, cid: job.cid }, 'origin fetch bookkeeping failed'))
        .finally(() => {
          this.#running.delete(run)
          if (this.#jobs.get(jobKey(job.accountId, job.cid)) === job) this.#jobs.delete(jobKey(job.accountId, job.cid))
          this.#pump()
        })
      this.#running.add(run)
    }
  }

  async #run(job: Job): Promise<void> {
    const { registry, repo, releaseContent, logger } = this.#options
    const signal = job.controller.signal
    job.state = 'pinning'
    const scope = { accountId: job.accountId }
    await registry.pinRequests.setStatusByCid(job.cid, ['queued'], 'pinning', scope)
    const root = CID.parse(job.cid)
    const left = await this.#quotaLeft(job.accountId)
    const store = (await this.#holds(job)) ? repo.blocks : unseen(repo.blocks)
    let present = 0
    try {
      const result = await repo.runAdd(async () => {
        const fetched = await this.#fetch(root, store, {
          sources: [...job.urls].map((url) => ({ url })),
          signal,
          onProgress: (event) => {
            if (event.type === 'fetch:scan') present = event.detail.presentBytes
            else if (event.type === 'fetch:block' && present + event.detail.fetchedBytes > left && !signal.aborted)
              job.controller.abort(new StorageQuotaError(left))
          },
        })
        await repo.pins.add(root, { recursive: true, signal })
        return fetched
      })
      this.#failures.delete(jobKey(job.accountId, job.cid))
      const pin = await registry.pins.get(job.cid)
      if (pin === undefined) {
        // every request was deleted while fetching: drop the repo pin again
        await releaseContent.release([job.cid])
        return
      }
      if (pin.size === 0 && result.bytes > 0) await registry.pins.update(job.cid, { size: result.bytes })
      await registry.pinRequests.setStatusByCid(job.cid, ['queued', 'pinning', 'failed'], 'pinned', scope)
      logger.info({ cid: job.cid, fetchedBytes: result.fetchedBytes, skippedBlocks: result.skippedBlocks }, 'pinned from origins')
    } catch (error) {
      const reason: unknown = signal.aborted ? signal.reason : error
      if (reason instanceof ReleasedError) return
      if (this.#closed && !(reason instanceof StorageQuotaError)) return
      const details = describe(reason, job)
      this.#failures.delete(jobKey(job.accountId, job.cid))
      this.#failures.set(jobKey(job.accountId, job.cid), details)
      if (this.#failures.size > this.#maxFailures) this.#failures.delete(this.#failures.keys().next().value as string)
      await registry.pinRequests.setStatusByCid(job.cid, ['queued', 'pinning'], 'failed', scope)
      logger.info({ cid: job.cid, reason: details }, 'pin request failed: content not fetched')
    }
  }

  /** Whether the job's account holds `cid` already (through any spelling), so may use the repo's copy. */
  async #holds(job: Job): Promise<boolean> {
    for (const form of cidForms(job.cid)) if (await this.#options.registry.pins.getForAccount(job.accountId, form)) return true
    return false
  }

  async #quotaLeft(accountId: string): Promise<number> {
    const { registry } = this.#options
    const quota = (await registry.accounts.get(accountId))?.quotaStorageBytes
    if (quota === null || quota === undefined) return Infinity
    return quota - (await registry.pins.bytesReferencedBy(accountId))
  }
}

function jobKey(accountId: string, cid: string): string {
  return `${accountId} ${cid}`
}

/** `blocks` seen as empty: every block is fetched (and verified) again, then stored idempotently. */
function unseen(blocks: FetchStore): FetchStore {
  return {
    has: async () => false,
    get: (cid, options) => blocks.get(cid, options),
    put: (cid, bytes, options) => blocks.put(cid, bytes, options),
    flush: (options) => blocks.flush(options),
  }
}

function describe(error: unknown, job: Job): string {
  if (job.urls.size === 0) return 'the content is not on this service and no origin is an HTTP trustless gateway (e.g. /ip4/1.2.3.4/tcp/8080/http)'
  if (error instanceof PinfoldError) return `${error.code}: ${error.message}`.slice(0, 1000)
  return 'could not fetch the content from its origins'
}
