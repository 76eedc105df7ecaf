import { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import { PinfoldError } from '../../core/index.ts'
import type { PinRequest, PinRequestStatus, Registry, StorageNode } from '../../registry/index.ts'
import type { Repo } from '../../repo/index.ts'
import type { AddressPolicy } from '../../transfer/index.ts'
import { cidForms } from '../files/cid-forms.ts'
import type { ContentReleaser } from '../files/release-content.ts'
import { notFound, PinningApiError } from './errors.ts'
import { gatewayUrlToMultiaddr } from './multiaddr.ts'
import { type FetchDagFn, OriginFetcher } from './origin-fetcher.ts'
import { formatRfc3339, type ListQuery, type PinInput } from './requests.ts'

/** The spec's `PinStatus` as sent. */
export interface PinStatusBody {
  requestid: string
  status: PinRequestStatus
  created: string
  pin: { cid: string; name?: string; origins: string[]; meta: Record<string, string> }
  delegates: string[]
  info: Record<string, string>
}

export interface PinResultsBody {
  count: number
  results: PinStatusBody[]
}

export interface PinningServiceOptions {
  registry: Registry
  repo: Repo
  releaseContent: ContentReleaser
  logger: Logger
  /** Copies new pins ask for (the cluster's configured default); registry default when absent. */
  replication?: { min: number; max: number }
  /** Concurrent origin fetches (default 4). */
  fetchConcurrency?: number
  /** Deadline of one origin fetch (default 600 s). */
  fetchTimeoutMs?: number
  /** Origin fetches one account may have waiting or running (default 100); more are answered 429. */
  maxQueuedPerAccount?: number
  /** For tests: replaces the verifying fetcher. */
  fetchDag?: FetchDagFn
  /** Which addresses `origins` may be fetched from. */
  addressPolicy: AddressPolicy
}

const MAX_DELEGATES = 20
const NODE_CACHE_MS = 5000

export class QuotaExceededError extends PinfoldError {
  constructor(left: number) {
    super('ERR_QUOTA_EXCEEDED', `the account's storage quota is used up (${Math.max(0, left)} bytes left)`, { userError: true })
  }
}

/**
 * The IPFS Pinning Service API v1.0.0 over Pinfold's registry: every pin request holds a
 * reference on its CID's pin (so it replicates to storage nodes like any other pin), and
 * content the origin repo lacks is fetched from the request's `origins`.
 *
 * Status rule (what `status` reports, re-derived on every read of a request not yet pinned):
 * 1. `pinned` when the origin repo holds a recursive pin of the CID (the whole DAG, verified),
 *    or when at least `replicationMin` storage nodes report the allocation `pinned` (for −1:
 *    every registered, non-revoked node that is not down). The origin keeps what it holds while any reference exists, so
 *    `pinned` is not revisited later.
 * 2. else `queued`/`pinning` while the origin fetch of its CID waits/runs;
 * 3. else the stored status: `failed` (with `info.status_details`) when the fetch failed,
 *    `queued` for a request whose fetch a restart interrupted (resumed at start).
 * `list` filters on the stored status, which the fetcher and these reads keep current.
 */
export class PinningService {
  readonly #options: PinningServiceOptions
  readonly fetcher: OriginFetcher
  #nodes: { at: number; nodes: Promise<StorageNode[]> } | undefined

  constructor(options: PinningServiceOptions) {
    this.#options = options
    this.fetcher = new OriginFetcher({
      registry: options.registry,
      repo: options.repo,
      releaseContent: options.releaseContent,
      logger: options.logger,
      concurrency: options.fetchConcurrency,
      jobTimeoutMs: options.fetchTimeoutMs,
      maxJobsPerAccount: options.maxQueuedPerAccount,
      fetchDag: options.fetchDag,
      addressPolicy: options.addressPolicy,
    })
  }

  /** `POST /pins`: a new request (new requestid even for a CID already requested). */
  async add(accountId: string, pin: PinInput, selfUrl: string): Promise<PinStatusBody> {
    this.#checkQueue(accountId)
    const held = await this.#holds(accountId, pin.cid)
    await this.#checkQuota(accountId, held)
    const request = await this.#options.registry.pinRequests.create(accountId, toInput(pin, this.#options.replication))
    const status = await this.#start(request, held)
    return this.#present({ ...request, status }, await this.delegates(selfUrl), {})
  }

  /** `GET /pins/{requestid}`. */
  async get(accountId: string, requestid: string, selfUrl: string): Promise<PinStatusBody> {
    const request = await this.#options.registry.pinRequests.get(accountId, requestid)
    if (request === undefined) throw notFound(`no pin request ${requestid}`)
    const { status, info } = await this.#derive(request)
    // the size is the account's to know only once it holds the content
    const pin = status === 'pinned' ? await this.#options.registry.pins.get(request.cid) : undefined
    if (pin && pin.size > 0) info.dag_size = String(pin.size)
    return this.#present({ ...request, status }, await this.delegates(selfUrl), info)
  }

  /** `GET /pins`: newest first; `count` is every match, not just this page. */
  async list(accountId: string, query: ListQuery, selfUrl: string): Promise<PinResultsBody> {
    const { registry } = this.#options
    const cids = query.cids?.flatMap(cidForms)
    const page = await registry.pinRequests.list(accountId, {
      cids,
      status: query.status,
      before: query.before,
      after: query.after,
      name: query.name,
      match: query.match,
      meta: query.meta,
      limit: query.limit,
    })
    const delegates = await this.delegates(selfUrl)
    const results: PinStatusBody[] = []
    for (const request of page.results) {
      const { status, info } = await this.#derive(request)
      results.push(this.#present({ ...request, status }, delegates, info))
    }
    return { count: page.count, results }
  }

  /**
   * `POST /pins/{requestid}`: a new request replaces the old one in one registry
   * transaction; the old request's pin is released only when nothing else references it,
   * so blocks shared by both are never collected.
   */
  async replace(accountId: string, requestid: string, pin: PinInput, selfUrl: string): Promise<PinStatusBody> {
    const { registry } = this.#options
    if ((await registry.pinRequests.get(accountId, requestid)) === undefined) throw notFound(`no pin request ${requestid}`)
    this.#checkQueue(accountId)
    const held = await this.#holds(accountId, pin.cid)
    await this.#checkQuota(accountId, held)
    const replaced = await registry.pinRequests.replace(accountId, requestid, toInput(pin, this.#options.replication))
    if (replaced === undefined) throw notFound(`no pin request ${requestid}`)
    if (replaced.released !== null) await this.#release(replaced.released)
    const status = await this.#start(replaced.request, held)
    return this.#present({ ...replaced.request, status }, await this.delegates(selfUrl), {})
  }

  /** `DELETE /pins/{requestid}`: removes the request; the content goes only when nothing references it. */
  async remove(accountId: string, requestid: string): Promise<void> {
    const request = await this.#options.registry.pinRequests.get(accountId, requestid)
    const removed = request && (await this.#options.registry.pinRequests.remove(accountId, requestid))
    if (request === undefined || removed === undefined) throw notFound(`no pin request ${requestid}`)
    if (removed.released) await this.#release(request.cid)
  }

  /**
   * Multiaddrs for `PinStatus.delegates`: this coordinator's gateway, then the gateways of
   * online storage nodes (at most 20 in all, at least the coordinator).
   */
  async delegates(selfUrl: string): Promise<string[]> {
    const out = new Set<string>()
    const self = gatewayUrlToMultiaddr(selfUrl)
    if (self) out.add(self)
    for (const node of await this.#activeNodes()) {
      if (out.size >= MAX_DELEGATES) break
      if (node.status !== 'online' || node.address === null) continue
      const addr = gatewayUrlToMultiaddr(node.address)
      if (addr) out.add(addr)
    }
    if (out.size === 0) out.add('/ip4/127.0.0.1/tcp/8080/http')
    return [...out]
  }

  /** Takes up requests a previous process left queued or pinning. */
  resume(): Promise<number> {
    return this.fetcher.resume()
  }

  close(): Promise<void> {
    return this.fetcher.close()
  }

  /**
   * Marks a new request pinned when the account already holds the content and the origin has
   * it, else starts the fetch. Content the account does not hold takes the fetch path whoever
   * else stores it, so the answer is the one a CID nobody stores gets.
   */
  async #start(request: PinRequest, held: boolean): Promise<PinRequestStatus> {
    if (held && (await this.#originHolds(request.cid))) {
      await this.#options.registry.pinRequests.setStatus(request.accountId, request.requestid, 'pinned')
      return 'pinned'
    }
    this.fetcher.enqueue(request.cid, request.origins, request.accountId)
    return this.fetcher.state(request.cid, request.accountId) ?? 'queued'
  }

  async #derive(request: PinRequest): Promise<{ status: PinRequestStatus; info: Record<string, string> }> {
    if (request.status === 'pinned') return { status: 'pinned', info: {} }
    const { registry } = this.#options
    const info: Record<string, string> = {}
    // what the origin and the nodes hold says something about the account's request only
    // when the account holds the content through something else (an upload, another request)
    if (await this.#holds(request.accountId, request.cid)) {
      const replicas = await this.#nodeReplicas(request.cid)
      if ((await this.#originHolds(request.cid)) || (replicas.needed > 0 && replicas.pinned >= replicas.needed)) {
        await registry.pinRequests.setStatus(request.accountId, request.requestid, 'pinned')
        return { status: 'pinned', info: {} }
      }
      if (replicas.needed > 0) info.replicas = `${replicas.pinned}/${replicas.needed}`
    }
    const fetching = this.fetcher.state(request.cid, request.accountId)
    if (fetching !== undefined) {
      info.status_details = fetching === 'queued' ? 'waiting to fetch from origins' : 'fetching from origins'
      return { status: fetching, info }
    }
    if (request.status === 'failed') {
      info.status_details = this.fetcher.failure(request.cid, request.accountId) ?? 'the content could not be fetched'
    }
    return { status: request.status, info }
  }

  /** Whether the account holds `cid` (any spelling) through an upload, a pinned request, … */
  async #holds(accountId: string, cid: string): Promise<boolean> {
    for (const form of cidForms(cid)) if (await this.#options.registry.pins.getForAccount(accountId, form)) return true
    return false
  }

  async #originHolds(cid: string): Promise<boolean> {
    return (await this.#options.repo.pins.get(CID.parse(cid))) !== undefined
  }

  /** Storage nodes reporting `cid` pinned, and how many the pin asks for (0: no nodes). */
  async #nodeReplicas(cid: string): Promise<{ pinned: number; needed: number }> {
    const nodes = (await this.#activeNodes()).filter((n) => n.status !== 'down')
    if (nodes.length === 0) return { pinned: 0, needed: 0 }
    const { registry } = this.#options
    const pin = await registry.pins.get(cid)
    if (pin === undefined) return { pinned: 0, needed: 0 }
    const allocations = await registry.allocations.listForCid(cid)
    const active = new Set(nodes.map((n) => n.id))
    const pinned = allocations.filter((a) => a.status === 'pinned' && active.has(a.nodeId)).length
    const needed = pin.replicationMin === -1 ? nodes.length : pin.replicationMin
    return { pinned, needed }
  }

  #activeNodes(): Promise<StorageNode[]> {
    const now = Date.now()
    if (this.#nodes === undefined || now - this.#nodes.at > NODE_CACHE_MS) {
      const nodes = this.#options.registry.nodes.list({ activeOnly: true })
      nodes.catch(() => {
        this.#nodes = undefined
      })
      this.#nodes = { at: now, nodes }
    }
    return this.#nodes.nodes
  }

  async #release(cid: string): Promise<void> {
    this.fetcher.cancel(cid)
    await this.#options.releaseContent.release([cid])
  }

  /** Refuses a request while the account's origin fetches fill its share of the queue. */
  #checkQueue(accountId: string): void {
    if (!this.fetcher.hasRoom(accountId))
      throw new PinningApiError(429, 'RATE_LIMITED', 'too many pin requests of this account are waiting for their origins; retry once some finish')
  }

  /**
   * Refuses a request when the quota is used up. Content the account holds is counted once
   * already; the size of anything else is unknown until fetched (the fetcher measures it
   * against the quota), so another account's copy cannot be sized through a refusal.
   */
  async #checkQuota(accountId: string, held: boolean): Promise<void> {
    const { registry } = this.#options
    const quota = (await registry.accounts.get(accountId))?.quotaStorageBytes
    if (quota === null || quota === undefined || held) return
    const used = await registry.pins.bytesReferencedBy(accountId)
    if (used >= quota) throw new QuotaExceededError(quota - used)
  }

  #present(request: PinRequest, delegates: string[], info: Record<string, string>): PinStatusBody {
    const pin: PinStatusBody['pin'] = { cid: request.cid, origins: request.origins, meta: request.meta }
    if (request.name !== null) pin.name = request.name
    return { requestid: request.requestid, status: request.status, created: formatRfc3339(request.created), pin, delegates, info }
  }
}

function toInput(pin: PinInput, replication?: { min: number; max: number }) {
  const input = { cid: pin.cid, name: pin.name ?? null, meta: pin.meta, origins: pin.origins }
  return replication ? { ...input, pin: { replicationMin: replication.min, replicationMax: replication.max } } : input
}
