import { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import { PinfoldError } from '../../core/index.ts'
import type { Registry } from '../../registry/index.ts'
import type { Repo } from '../../repo/index.ts'
import { type AddressPolicy, type FetchDagOptions, type FetchDagResult, fetchDag } from '../../transfer/index.ts'
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
  /** Fetches at once (default 4); more wait `queued`, taken round-robin across accounts. */
  concurrency?: number
  /** A fetch still running after this long fails (default 600 s). */
  jobTimeoutMs?: number
  /** Fetches one account may have waiting or running (default 100); see `hasRoom`. */
  maxJobsPerAccount?: number
  /** Reasons of failed fetches kept for `info.status_details` (default 10,000; oldest dropped). */
  maxFailures?: number
  fetchDag?: FetchDagFn
  /** Which addresses origins may be reached at (user-chosen URLs: public ones only by default). */
  addressPolicy: AddressPolicy
}

/**
 * What a user is told when origins failed: never the port, address or HTTP status behind
 * it, so `status_details` cannot be used to scan what the coordinator can reach.
 */
const ORIGINS_FAILED = 'origin unreachable or refused'

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

class DeadlineError extends PinfoldError {
  constructor(ms: number) {
    super('ERR_ABORTED', `the fetch did not finish within ${ms} ms`)
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
 * Waiting jobs are queued per account and started round-robin across accounts; one account
 * runs at most half the slots (rounded up), so however many slow origins it names, another
 * account's request starts at once; each job has a deadline (`jobTimeoutMs`).
 *
 * Knowing a CID grants nothing: unless the account already holds the CID, its job fetches
 * every block from the origins it named, as if the repo held none of them, so another
 * account's copy is neither a shortcut nor observable. Jobs are per account for the same
 * reason: one account's origins never satisfy another's request.
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
  readonly #timeoutMs: number
  readonly #maxPerAccount: number
  readonly #jobs = new Map<string, Job>()
  /** Waiting jobs per account; the Map's order is the round-robin order (an account served goes last). */
  readonly #waiting = new Map<string, Job[]>()
  /** Jobs (waiting or running) per account. */
  readonly #perAccount = new Map<string, number>()
  /** Running jobs per account (at most `#maxRunningPerAccount`). */
  readonly #runningPerAccount = new Map<string, number>()
  readonly #maxRunningPerAccount: number
  readonly #failures = new Map<string, string>()
  readonly #running = new Set<Promise<void>>()
  #closed = false

  constructor(options: OriginFetcherOptions) {
    this.#options = options
    this.#fetch = options.fetchDag ?? fetchDag
    this.#concurrency = options.concurrency ?? 4
    this.#maxFailures = options.maxFailures ?? 10_000
    this.#timeoutMs = options.jobTimeoutMs ?? 600_000
    this.#maxPerAccount = options.maxJobsPerAccount ?? 100
    this.#maxRunningPerAccount = Math.ceil(this.#concurrency / 2)
  }

  /** Whether `accountId` may start another fetch (it has fewer than `maxJobsPerAccount`). */
  hasRoom(accountId: string): boolean {
    return (this.#perAccount.get(accountId) ?? 0) < this.#maxPerAccount
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
    count(this.#perAccount, accountId, 1)
    const queue = this.#waiting.get(accountId)
    if (queue) queue.push(job)
    else this.#waiting.set(accountId, [job])
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
    for (const job of [...this.#jobs.values()]) {
      if (job.cid !== cid) continue
      job.controller.abort(new ReleasedError())
      const queue = this.#waiting.get(job.accountId) ?? []
      const i = queue.indexOf(job)
      if (i < 0) continue
      queue.splice(i, 1)
      if (queue.length === 0) this.#waiting.delete(job.accountId)
      this.#forget(job)
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
    while (this.#running.size > 0 || this.#waiting.size > 0) await Promise.race(this.#running)
  }

  /** Aborts running jobs (their requests stay queued/pinning for `resume`) and waits for them. */
  async close(): Promise<void> {
    this.#closed = true
    this.#waiting.clear()
    for (const job of this.#jobs.values()) job.controller.abort(new PinfoldError('ERR_ABORTED', 'coordinator closing'))
    await Promise.allSettled([...this.#running])
  }

  #pump(): void {
    while (!this.#closed && this.#running.size < this.#concurrency) {
      const job = this.#nextJob()
      if (job === undefined) return
      count(this.#runningPerAccount, job.accountId, 1)
      const deadline = setTimeout(() => job.controller.abort(new DeadlineError(this.#timeoutMs)), this.#timeoutMs)
      const run: Promise<void> = this.#run(job)
        .catch((err: unknown) => this.#options.logger.error({ err, cid: job.cid }, 'origin fetch bookkeeping failed'))
        .finally(() => {
          clearTimeout(deadline)
          count(this.#runningPerAccount, job.accountId, -1)
          this.#running.delete(run)
          this.#forget(job)
          this.#pump()
        })
      this.#running.add(run)
    }
  }

  /**
   * The first waiting job of the next account in turn below its running limit (that
   * account then goes to the back of the turn); undefined when none may start.
   */
  #nextJob(): Job | undefined {
    for (const [accountId, queue] of this.#waiting) {
      if ((this.#runningPerAccount.get(accountId) ?? 0) >= this.#maxRunningPerAccount) continue
      const job = queue.shift() as Job
      this.#waiting.delete(accountId)
      if (queue.length > 0) this.#waiting.set(accountId, queue)
      return job
    }
    return undefined
  }

  #forget(job: Job): void {
    const key = jobKey(job.accountId, job.cid)
    if (this.#jobs.get(key) === job) this.#jobs.delete(key)
    count(this.#perAccount, job.accountId, -1)
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
          addressPolicy: this.#options.addressPolicy,
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
      logger.info({ cid: job.cid, err: reason }, 'pin request failed: content not fetched')
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

/** Adds `delta` to a per-account counter, dropping it at 0. */
function count(counts: Map<string, number>, accountId: string, delta: number): void {
  const value = (counts.get(accountId) ?? 0) + delta
  if (value > 0) counts.set(accountId, value)
  else counts.delete(accountId)
}

/** The user-facing reason: specific only for what the user controls (no usable origin, quota). */
function describe(error: unknown, job: Job): string {
  if (job.urls.size === 0) return 'the content is not on this service and no origin is an HTTP trustless gateway (e.g. /ip4/1.2.3.4/tcp/8080/http)'
  if (error instanceof StorageQuotaError) return `${error.code}: ${error.message}`
  return ORIGINS_FAILED
}
