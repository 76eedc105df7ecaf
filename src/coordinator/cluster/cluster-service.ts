import { Cron } from 'croner'
import type { Logger } from 'pino'
import { type ClusterSecret, COORDINATOR_AUDIENCE, clusterSecret, type StatusEntry, verifyPeerToken } from '../../cluster/index.ts'
import { PinfoldError } from '../../core/index.ts'
import type { Allocation, Notifications, Pin, Registry, StorageNode } from '../../registry/index.ts'
import { bearerSource } from '../../transfer/fetch/index.ts'
import { type AllocationDecision, type AllocatorNode, DEFAULT_MAX_ATTEMPTS, decideAllocations, type NodeState, storedBytesEstimate } from './allocator.ts'
import type { EventHub } from '../events/event-hub.ts'
import type { CoordinatorKey } from './cluster-keys.ts'
import { GatewayVouching } from './gateway-vouching.ts'
import { PeerTokens } from './peer-tokens.ts'
import { type FleetTimeouts, type NodeReportInfo, nodesGracedAtStart, nodeState, storageSpace, toAllocatorNode } from './fleet.ts'
import { CLOSE_CODES, type ControlSocket, NodeSession, type SessionHost } from './node-session.ts'
import { type IngestedMessage, ingestPath, registerIngested } from './ingest.ts'
import type { IngestVerifier } from './verify-ingest.ts'
import { createSyncSessions, type SyncSessions } from './sync-sessions.ts'

export interface ClusterOptions {
  registry: Registry
  logger: Logger
  secret: string
  coordinatorKey: CoordinatorKey
  nodeDownAfterSeconds: number
  reallocateAfterSeconds: number
  syncSchedule: string
  failureDomainTag?: string
  peerTokenTtlSeconds: number
  /** Tick of the reconcile loop: new pins, node health, feed poll (seconds). */
  reconcileIntervalSeconds: number
  /** Whether the origin repo holds a DAG's root (the coordinator is then a source). */
  originHas?: (cid: string) => Promise<boolean>
  /** Replication of pins new to the registry (`cluster.defaultReplicationMin/Max`); −1/−1 when absent. */
  defaultReplication?: { min: number; max: number }
  /** Fetches and verifies an ingested DAG from its node before it is registered; without it nothing is ingested. */
  verifyIngest?: IngestVerifier
  /** Failed attempts after which a copy moves to another node with room (default 3). */
  maxAttempts?: number
  /** Where node-reported pin status changes are published (to the CID's accounts and admins). */
  events?: EventHub
  /**
   * Whether this replica runs the cluster-wide passes (placement, reconcile, marking silent
   * nodes down); one replica at a time does (leader-election.ts). Always, when absent.
   */
  isLeader?: () => boolean
  /** Hears every copy newly recorded `pinned` (staging release challenges it before it counts). */
  onPinned?: (cid: string, nodeId: string) => void
  /**
   * Cross-replica wake-ups: feeds of the nodes whose changes another replica committed, and
   * pins a follower hands to the leader to place at once. Without it, the tick's polls only.
   */
  notifications?: Notifications
}

/** A node as the nodes API shows it. */
export interface NodeView {
  id: string
  name: string
  tags: Record<string, string>
  /** online (reporting), down (silent), offline (disconnected recently), revoked. */
  status: 'online' | 'down' | 'offline' | 'revoked'
  /** Allocator view: up, down (copies still count) or gone (copies re-allocated). */
  state: NodeState
  connected: boolean
  draining: boolean
  /** The gateway URL the coordinator verified (the only one it hands out); null when none is. */
  gatewayUrl: string | null
  /** Whether the URL the node claims answered the identity challenge with the node's key. */
  gatewayVerified: boolean
  /** The URL the node last claimed (verified or not). */
  claimedGatewayUrl: string | null
  /** Why the claimed URL is not verified (null when verified or not checked yet). */
  gatewayError: string | null
  /** The account this node's drop-folder files go to (admin-assigned; null: it cannot ingest). */
  ingestAccountId: string | null
  lastSeen: number | null
  createdAt: number
  cursor: number
  capacity: { totalBytes: number; usedBytes: number; availableBytes: number; weightedAvailableBytes: number }
  storage: NonNullable<NodeReportInfo['storage']>
  pins: number
  queued: number
  failed: number
  version: string | null
}

export interface UnderReplicatedPin {
  cid: string
  replicationMin: number
  replicationMax: number
  copies: number
  wanted: number
  reason: string
  since: number
}

export interface PinStatusView {
  cid: string
  replicationMin: number
  replicationMax: number
  underReplicated: UnderReplicatedPin | null
  allocations: {
    nodeId: string
    nodeName: string | null
    nodeStatus: NodeView['status'] | 'unknown'
    status: Allocation['status']
    attempts: number
    reason: string | null
    updatedAt: number
  }[]
}

/** Where CIDs can be fetched, with a token per source URL bound to that source (see `locate`). */
export interface LocatedSources {
  sources: { cid: string; urls: string[] }[]
  /** Source URL → a peer token for the requester whose audience is that source. */
  tokens: Record<string, string>
}

export class NodeNotFoundError extends PinfoldError {
  constructor(id: string) {
    super('ERR_NOT_FOUND', `no storage node ${id}`, { userError: true })
  }
}

/** Pins examined per registry page in a reconcile pass. */
const PASS_PAGE = 500
/** Full passes run at least this often, besides the events that trigger them. */
const FULL_PASS_EVERY_MS = 5 * 60_000
/** Anti-entropy rounds running at once (each holds one node's desired set in memory). */
const SYNC_CONCURRENCY = 2
const SYNC_TIMEOUT_MS = 10 * 60_000

/**
 * The coordinator's side of the cluster: node sessions (control channel), the allocation
 * reconcile loop, node health, the change-feed fan-out and anti-entropy scheduling.
 * State lives in the registry; what is held here (sessions, last pass results) is per
 * replica and rebuilt from the registry, so several replicas can share one database.
 */
export class ClusterService {
  readonly coordinatorKey: CoordinatorKey
  readonly #registry: Registry
  readonly #log: Logger
  readonly #secret: ClusterSecret
  readonly #options: ClusterOptions
  readonly #timeouts: FleetTimeouts
  readonly #sessions = new Map<string, NodeSession>()
  readonly #pending = new Set<NodeSession>()
  readonly #states = new Map<string, NodeState>()
  readonly #nodes = new Map<string, StorageNode>()
  readonly #underReplicated = new Map<string, UnderReplicatedPin>()
  /** Pins the last pass could not place at all, with the fleet generation it was tried on. */
  readonly #unplaceable = new Map<string, number>()
  readonly #sync: SyncSessions
  readonly #host: SessionHost
  readonly #gateways: GatewayVouching
  readonly #tokens: PeerTokens
  #fleetGeneration = 0
  /** Re-allocation timeouts of the nodes in `#graced` count from here (the process start). */
  readonly #startedAt = Date.now()
  #graced: Set<string> | undefined
  #baseUrl: string | undefined
  #timer: NodeJS.Timeout | undefined
  #cron: Cron | undefined
  #running: Promise<void> | undefined
  #fullPassWanted = true
  #fullPassReasons = new Set<string>(['start'])
  #lastFullPass = 0
  #lastSeq = 0
  #closed = false
  #wasLeader = false
  #tickChain: Promise<void> = Promise.resolve()
  readonly #syncQueue: { nodeId: string; reason: string }[] = []
  readonly #syncRunning = new Map<string, { done: () => void; timer: NodeJS.Timeout }>()
  /** Per node: ingests verified one after another, all aborted when the node is revoked. */
  readonly #ingests = new Map<string, { controller: AbortController; chain: Promise<void> }>()
  /** Pins the leader reconciles in its next batch (see #reconcileOne). */
  readonly #pendingReconcile = new Set<string>()
  #reconcileBatch: Promise<void> | undefined

  constructor(options: ClusterOptions) {
    this.#options = options
    this.#registry = options.registry
    this.#log = options.logger
    this.#secret = clusterSecret(options.secret)
    this.coordinatorKey = options.coordinatorKey
    this.#timeouts = {
      downAfterMs: options.nodeDownAfterSeconds * 1000,
      reallocateAfterMs: options.reallocateAfterSeconds * 1000,
    }
    this.#sync = createSyncSessions({ registry: this.#registry, logger: this.#log.child({ component: 'coordinator:sync' }) })
    this.#tokens = new PeerTokens(options.coordinatorKey.privateKey, options.peerTokenTtlSeconds)
    this.#gateways = new GatewayVouching({
      registry: this.#registry,
      logger: this.#log.child({ component: 'coordinator:gateways' }),
      onChange: (nodeId) => void this.#reloadNode(nodeId),
    })
    this.#host = this.#createHost()
  }

  /** The coordinator's own base URL, named as a source in `sources` (its origin repo holds uploads). */
  setBaseUrl(url: string): void {
    this.#baseUrl = url.replace(/\/+$/, '')
  }

  /** Starts the reconcile loop and the anti-entropy schedule. */
  start(): void {
    if (this.#timer || this.#closed) return
    const tick = () => {
      this.#timer = setTimeout(() => {
        this.#running = this.#tick().finally(() => {
          this.#running = undefined
          if (!this.#closed) tick()
        })
      }, this.#options.reconcileIntervalSeconds * 1000)
      this.#timer.unref()
    }
    this.#running = this.#tick().finally(() => {
      this.#running = undefined
      if (!this.#closed) tick()
    })
    this.#listen()
    this.#cron = new Cron(this.#options.syncSchedule, { timezone: 'UTC' }, () => {
      this.requestSync(undefined, 'schedule')
    })
  }

  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#cron?.stop()
    for (const session of [...this.#sessions.values(), ...this.#pending]) session.close(CLOSE_CODES.shutdown, 'coordinator shutting down')
    for (const { timer } of this.#syncRunning.values()) clearTimeout(timer)
    await this.#running?.catch(() => undefined)
  }

  #listen(): void {
    const notifications = this.#options.notifications
    if (notifications === undefined) return
    notifications.subscribe('feed', (nodeId) => this.notify([nodeId]))
    notifications.subscribe('reconcile', (cid) => {
      if (!this.#leader() || this.#closed) return
      this.#reconcileOne(cid).catch((error: unknown) => this.#log.warn({ err: error, cid }, 'could not reconcile a pin on notice'))
    })
    // notices sent while not listening are lost: catch up from the registry
    notifications.onReconnect(() => {
      this.notify()
      this.#wantFullPass('notifications reconnected')
    })
  }

  // ---- control channel -------------------------------------------------------------

  /**
   * Runs the control protocol on a freshly upgraded WebSocket. `onRefused` hears the code of
   * a refused join (the HTTP edge counts wrong-secret guesses per address with it).
   */
  accept(socket: ControlSocket, options: { onRefused?: (code: string) => void } = {}): void {
    if (this.#closed) {
      socket.close(CLOSE_CODES.shutdown, 'coordinator shutting down')
      return
    }
    const session = new NodeSession(socket, this.#host, options.onRefused)
    this.#pending.add(session)
  }

  /** Wakes the change feed of connected nodes (all when no ids are given). */
  notify(nodeIds?: Iterable<string>): void {
    const sessions = nodeIds ? [...nodeIds].map((id) => this.#sessions.get(id)) : [...this.#sessions.values()]
    for (const session of sessions) if (session) void session.pump()
  }

  /** Subject of a valid peer token for the coordinator's own gateway whose node is not revoked. */
  async verifyPeer(token: string): Promise<string | undefined> {
    const subject = await verifyPeerToken(this.coordinatorKey.publicKey, token, COORDINATOR_AUDIENCE)
    if (subject === undefined) return undefined
    const node = this.#nodes.get(subject) ?? (await this.#registry.nodes.get(subject))
    return node && !node.revoked ? subject : undefined
  }

  #createHost(): SessionHost {
    return {
      registry: this.#registry,
      secret: this.#secret,
      coordinatorPublicKey: this.coordinatorKey.publicKey,
      logger: this.#log,
      // the channel's own token is for the coordinator's gateway; peers' come with `sources`
      issuePeerToken: (nodeId) => this.#tokens.issue(nodeId, COORDINATOR_AUDIENCE),
      admitted: (session, join) => this.#admitted(session, join),
      welcomed: (session) => {
        void this.#sendRevokedPeers(session)
        this.#enqueueSync(session.nodeId as string, 'connect')
      },
      ended: (session) => this.#ended(session),
      report: (session, report) => this.#report(session, report),
      status: (session, message) => this.#status(session.nodeId as string, message.updates),
      sync: (session, message) => this.#sync.message(session, message),
      syncDone: (session, message) => {
        this.#sync.done(session, message)
        this.#syncFinished(session.nodeId as string)
      },
      locate: (session, cids) => this.locate(cids, session.nodeId),
      ingested: (session, message) => this.ingested(session.nodeId as string, message),
      pinInfo: async (cids) => {
        const out = new Map<string, { size: number; name: string | null }>()
        const pins = await Promise.all(cids.map((cid) => this.#registry.pins.get(cid)))
        for (const pin of pins) if (pin) out.set(pin.cid, { size: pin.size, name: pin.name })
        return out
      },
    }
  }

  async #admitted(session: NodeSession, join: Parameters<SessionHost['admitted']>[1]): Promise<void> {
    const nodes = this.#registry.nodes
    const known = await nodes.get(join.nodeId)
    if (!known) {
      await nodes
        .register({
          id: join.nodeId,
          publicKey: join.publicKey,
          name: join.name,
          tags: join.tags,
          address: null, // until verified (gateway-vouching.ts)
        })
        .catch((error: { code?: string }) => {
          if (error.code !== 'ERR_CONFLICT') throw error
        })
    } else await nodes.update(join.nodeId, { name: join.name, tags: join.tags })
    await nodes.heartbeat(join.nodeId, {
      status: 'online',
      info: { ...(known?.info ?? {}), version: join.version },
    })
    this.#pending.delete(session)
    const previous = this.#sessions.get(join.nodeId)
    if (previous && previous !== session) previous.close(CLOSE_CODES.replaced, 'replaced by a newer session')
    this.#sessions.set(join.nodeId, session)
    const node = await nodes.get(join.nodeId)
    if (node) this.#nodes.set(node.id, node)
    this.#wantFullPass(known ? 'node back' : 'node joined')
    void this.#gateways.claim(join.nodeId, join.gatewayUrl, { fresh: true })
  }

  async #reloadNode(nodeId: string): Promise<void> {
    const node = await this.#registry.nodes.get(nodeId).catch(() => undefined)
    if (node) this.#nodes.set(nodeId, node)
  }

  /** Tells a freshly welcomed node every revoked node, whose tokens may still be unexpired. */
  async #sendRevokedPeers(session: NodeSession): Promise<void> {
    try {
      const nodeIds = (await this.#registry.nodes.list()).filter((n) => n.revoked).map((n) => n.id)
      if (nodeIds.length > 0) session.send({ type: 'revoked-peers', nodeIds })
    } catch (error) {
      this.#log.warn({ err: error, nodeId: session.nodeId }, 'could not send the revoked nodes')
    }
  }

  #ended(session: NodeSession): void {
    this.#pending.delete(session)
    const nodeId = session.nodeId
    if (nodeId === undefined || this.#sessions.get(nodeId) !== session) return
    this.#sessions.delete(nodeId)
    this.#syncFinished(nodeId)
    const node = this.#nodes.get(nodeId)
    // disconnected: no new allocations from now on; copies still count until re-allocation
    void this.#registry.nodes
      .heartbeat(nodeId, { status: 'offline', at: node?.lastSeen ?? Date.now() })
      .catch((error: unknown) => this.#log.warn({ err: error, nodeId }, 'could not record the disconnect'))
    if (node) this.#nodes.set(nodeId, { ...node, status: 'offline' })
  }

  async #report(session: NodeSession, report: Parameters<SessionHost['report']>[1]): Promise<void> {
    const nodeId = session.nodeId as string
    const space = storageSpace(report.storage)
    const info: NodeReportInfo = {
      storage: report.storage,
      pins: report.pins,
      queued: report.queued,
      failed: report.failed,
      version: report.version,
      reportedAt: Date.now(),
      gateway: this.#gateways.claimOf(nodeId),
    }
    // a replaced session's last frames must not undo the claim of the node's current one
    if (this.#sessions.get(nodeId) === session) void this.#gateways.claim(nodeId, report.gatewayUrl)
    await this.#registry.nodes.heartbeat(nodeId, {
      status: 'online',
      capacity: {
        totalBytes: space.total,
        usedBytes: space.used,
        availableBytes: space.available,
        weightedAvailableBytes: space.weightedAvailable,
      },
      info: info as Record<string, unknown>,
    })
    const node = await this.#registry.nodes.get(nodeId)
    if (node) {
      const before = this.#states.get(nodeId)
      this.#nodes.set(nodeId, node)
      const state = this.#stateOf(node)
      this.#states.set(nodeId, state)
      if (before !== undefined && before !== state) this.#fleetChanged(`node ${nodeId} ${before} → ${state}`)
    }
  }

  /**
   * Node-reported executor outcomes → allocation statuses (never overriding the coordinator's
   * intent). Idempotent: the node resends what it has no acknowledgement for, and a report
   * equal to the recorded status (for `failed`: with the same attempts) changes nothing.
   */
  async #status(nodeId: string, updates: StatusEntry[]): Promise<void> {
    const allocations = this.#registry.allocations
    let pinned = false
    const recheck = new Set<string>()
    for (const update of updates) {
      const current = await allocations.get(update.cid, nodeId)
      if (current === undefined) continue
      const wantsPin = current.status !== 'unpinning' && current.status !== 'unpinned'
      if (wantsPin) {
        if (update.status === 'unpinning' || update.status === 'unpinned') {
          this.#log.debug({ nodeId, cid: update.cid, status: update.status }, 'ignored: the pin is still allocated to this node')
          continue
        }
        if (update.status === current.status && (update.status !== 'failed' || update.attempts === current.attempts)) continue
        const reason = update.status === 'failed' ? (update.reason ?? 'failed') : null
        await allocations.setStatus(update.cid, nodeId, update.status, reason, { attempts: update.attempts })
        await this.#publishPinStatus(update.cid, nodeId, update.status)
        if (update.status === 'pinned') {
          pinned = true
          this.#options.onPinned?.(update.cid, nodeId)
        }
        // the pin's copies changed: its under-replication (and a failing copy's move) is decided again
        if (update.status === 'failed' || (update.status === 'pinned' && this.#underReplicated.has(update.cid))) recheck.add(update.cid)
        if (current.status === 'pinned') recheck.add(update.cid)
      } else if (update.status === 'unpinned') {
        if (current.status !== 'unpinned') {
          await allocations.setStatus(update.cid, nodeId, 'unpinned')
          await this.#publishPinStatus(update.cid, nodeId, 'unpinned')
        }
        await allocations.purge(update.cid, nodeId)
      }
    }
    for (const cid of recheck) {
      this.#reconcileOne(cid).catch((error: unknown) => this.#log.warn({ err: error, cid }, 'could not reconcile a pin after a status report'))
    }
    // a drain finishes when replacements report pinned
    if (pinned && [...this.#nodes.values()].some((n) => n.draining)) this.#wantFullPass('replacement pinned during drain')
  }

  /** Publishes a pin status report to every account referencing the CID and to admins; never throws. */
  async #publishPinStatus(cid: string, nodeId: string, status: string): Promise<void> {
    // subscribers may be on any replica: the hub carries the event to them
    const events = this.#options.events
    if (events === undefined) return
    try {
      const accountIds = await this.#registry.pins.accountsReferencing(cid)
      events.publish({ type: 'pin-status', cid, nodeId, status }, { accountIds, admins: true })
    } catch (error) {
      this.#log.warn({ err: error, cid, nodeId }, 'could not publish a pin status event')
    }
  }

  /**
   * The coordinator's own peer token for the node whose vouched gateway is `url` (reads of
   * content it no longer stages, storage challenges): audience that node, so it is useless at
   * any other. Undefined when no node answers at `url`.
   */
  async selfTokenFor(url: string): Promise<string | undefined> {
    const wanted = url.replace(/\/+$/, '')
    const at = (nodes: Iterable<StorageNode>) => [...nodes].find((n) => n.address?.replace(/\/+$/, '') === wanted)
    // called per block a read fetches from a node: the fleet this tick loaded first, the registry only on a miss
    const node = at(this.#nodes.values()) ?? at(await this.#registry.nodes.list())
    return node === undefined ? undefined : (await this.#tokens.issue(COORDINATOR_AUDIENCE, node.id)).token
  }

  /**
   * Where each CID can be fetched: this replica (when its origin repo holds it), the other
   * live replicas that staged it (coordinator audience: they share the signing key), and nodes
   * that report it pinned, at the gateway URL the coordinator verified (never a merely
   * claimed one). `requester` (a node id; the coordinator itself when absent) is never named
   * as a source, and gets per source a token whose audience is that source, so a token
   * presented to one node is refused by every other node and by the coordinator.
   */
  async locate(cids: string[], requester?: string): Promise<LocatedSources> {
    const sources: LocatedSources['sources'] = []
    const audiences = new Map<string, string>()
    for (const cid of cids) {
      const urls: string[] = []
      if (this.#baseUrl && (await (this.#options.originHas?.(cid) ?? Promise.resolve(true)).catch(() => false))) {
        urls.push(this.#baseUrl)
        audiences.set(this.#baseUrl, COORDINATOR_AUDIENCE)
      }
      for (const replica of await this.#registry.staging.sources(cid, this.#baseUrl)) {
        const url = replica.replace(/\/+$/, '')
        urls.push(url)
        audiences.set(url, COORDINATOR_AUDIENCE)
      }
      for (const a of await this.#registry.allocations.listForCid(cid)) {
        if (a.status !== 'pinned' || a.nodeId === requester) continue
        const node = this.#nodes.get(a.nodeId) ?? (await this.#registry.nodes.get(a.nodeId))
        if (!node?.address || this.#stateOf(node) !== 'up') continue
        const url = node.address.replace(/\/+$/, '')
        // one URL, one audience: a second node answering at the same URL is not named
        if ((audiences.get(url) ?? a.nodeId) !== a.nodeId || urls.length >= 32) continue
        audiences.set(url, a.nodeId)
        urls.push(url)
      }
      sources.push({ cid, urls })
    }
    const subject = requester ?? COORDINATOR_AUDIENCE
    const tokens: Record<string, string> = {}
    for (const [url, audience] of audiences) tokens[url] = (await this.#tokens.issue(subject, audience)).token
    return { sources, tokens }
  }

  /**
   * A drop-folder file a node imported. Nothing the node claims is trusted: the file goes to
   * the account an admin assigned to the node (a node without one, or naming another
   * account, is refused); the DAG is fetched from the node and verified, and its size
   * measured, before it is registered at `/Library/incoming/<path>` (see ingest.ts). Then
   * the ingesting node's allocation is recorded as `pinned` — it holds the DAG, so it counts
   * as a copy and is a source — and the pin is reconciled at once so further copies go to
   * other nodes. Idempotent. Runs after the node's earlier ingests, without holding up its
   * control channel; revoking the node aborts what has not been verified yet. Failures are
   * logged, never thrown (the session stays open).
   */
  ingested(nodeId: string, message: IngestedMessage): Promise<void> {
    let queue = this.#ingests.get(nodeId)
    if (queue === undefined) {
      queue = { controller: new AbortController(), chain: Promise.resolve() }
      this.#ingests.set(nodeId, queue)
    }
    const { signal } = queue.controller
    queue.chain = queue.chain.then(() => this.#ingest(nodeId, message, signal))
    return Promise.resolve()
  }

  async #ingest(nodeId: string, message: IngestedMessage, signal: AbortSignal): Promise<void> {
    const log = this.#log.child({ nodeId, path: message.path, cid: message.cid })
    try {
      await this.#gateways.checked(nodeId) // a node that just joined: its address is being verified
      const node = await this.#registry.nodes.get(nodeId)
      const verify = this.#options.verifyIngest
      if (signal.aborted || !node || node.revoked) return
      const accountId = node.ingestAccountId
      const account = accountId === null ? undefined : await this.#registry.accounts.get(accountId)
      if (accountId === null || account === undefined || verify === undefined || node.address === null) {
        log.warn('ingest refused: no ingest account is assigned to this node (PATCH /api/v1/nodes/{id} {"ingestAccount"})')
        return
      }
      if (message.account !== undefined && message.account.toLowerCase() !== account.email.toLowerCase()) {
        log.warn({ claimed: message.account }, 'ingest refused: the node names an account other than the one assigned to it')
        return
      }
      ingestPath(message) // refuse a bad path before fetching anything
      const { token } = await this.#tokens.issue(COORDINATOR_AUDIENCE, nodeId)
      const outcome = await verify(message.cid, bearerSource(node.address, token), {
        signal,
        register: ({ fileSize }) => {
          if (fileSize !== message.size) log.warn({ claimed: message.size, measured: fileSize }, 'ingest: the node reported a wrong size')
          return registerIngested(this.#registry, message, { accountId, size: fileSize, pin: this.#pinOptions() })
        },
      })
      const current = await this.#registry.allocations.get(message.cid, nodeId)
      if (current?.status !== 'pinned') {
        await this.#registry.allocations.setStatus(message.cid, nodeId, 'pinned', null)
        await this.#publishPinStatus(message.cid, nodeId, 'pinned')
      }
      this.#options.onPinned?.(message.cid, nodeId)
      log.info({ path: outcome.path, added: outcome.added }, 'drop-folder file registered')
      await this.#reconcileOne(message.cid)
    } catch (error) {
      log.warn({ err: error }, 'could not register a drop-folder file')
    }
  }

  #pinOptions(): { replicationMin: number; replicationMax: number } {
    const { min, max } = this.#options.defaultReplication ?? { min: -1, max: -1 }
    return { replicationMin: min, replicationMax: max }
  }

  #leader(): boolean {
    return this.#options.isLeader?.() ?? true
  }

  /** Whether this replica runs the cluster-wide passes now (`/readyz`, a gauge). */
  get leader(): boolean {
    return this.#leader()
  }

  /**
   * Reconciles one pin now. On the leader: in the tick chain (never beside a pass), batched
   * with the other pins asked for meanwhile, against a freshly loaded fleet (nodes may have
   * joined other replicas since the last tick). On a follower: the leader is told to.
   */
  #reconcileOne(cid: string): Promise<void> {
    if (!this.#leader()) return this.#options.notifications?.publish('reconcile', cid) ?? Promise.resolve()
    this.#pendingReconcile.add(cid)
    if (this.#reconcileBatch === undefined) {
      const run = this.#tickChain.then(() => {
        this.#reconcileBatch = undefined
        return this.#reconcilePending()
      })
      this.#tickChain = run.catch(() => undefined)
      this.#reconcileBatch = run
    }
    return this.#reconcileBatch
  }

  async #reconcilePending(): Promise<void> {
    const cids = [...this.#pendingReconcile]
    this.#pendingReconcile.clear()
    if (this.#closed || !this.#leader() || cids.length === 0) return
    await this.#refreshFleet(true)
    const fleet = await this.#fleetSnapshot()
    for (const cid of cids) {
      const pin = await this.#registry.pins.get(cid)
      if (pin) await this.#reconcilePin(pin, fleet)
    }
  }

  // ---- anti-entropy ------------------------------------------------------------------

  /** Asks one connected node (or all) to run anti-entropy; returns how many were asked. */
  requestSync(nodeId: string | undefined, reason: string): number {
    const ids = nodeId === undefined ? [...this.#sessions.keys()] : this.#sessions.has(nodeId) ? [nodeId] : []
    for (const id of ids) this.#enqueueSync(id, reason)
    return ids.length
  }

  #enqueueSync(nodeId: string, reason: string): void {
    if (this.#syncRunning.has(nodeId) || this.#syncQueue.some((q) => q.nodeId === nodeId)) return
    this.#syncQueue.push({ nodeId, reason })
    this.#startSyncs()
  }

  #startSyncs(): void {
    while (this.#syncRunning.size < SYNC_CONCURRENCY && this.#syncQueue.length > 0) {
      const next = this.#syncQueue.shift() as { nodeId: string; reason: string }
      const session = this.#sessions.get(next.nodeId)
      if (!session?.open) continue
      const timer = setTimeout(() => this.#syncFinished(next.nodeId), SYNC_TIMEOUT_MS)
      timer.unref()
      this.#syncRunning.set(next.nodeId, { done: () => clearTimeout(timer), timer })
      session.send({ type: 'sync-request', reason: next.reason })
    }
  }

  #syncFinished(nodeId: string): void {
    const running = this.#syncRunning.get(nodeId)
    if (!running) return
    running.done()
    this.#syncRunning.delete(nodeId)
    const session = this.#sessions.get(nodeId)
    if (session) this.#sync.forget(session)
    this.#startSyncs()
  }

  // ---- admin -------------------------------------------------------------------------

  async listNodes(): Promise<NodeView[]> {
    return (await this.#registry.nodes.list()).map((n) => this.#view(n))
  }

  async getNode(id: string): Promise<NodeView | undefined> {
    const node = await this.#registry.nodes.get(id)
    return node && this.#view(node)
  }

  /** Moves the node's pins elsewhere; its own allocations go once the replacements are pinned. */
  async drain(id: string): Promise<NodeView> {
    if (!(await this.#registry.nodes.setDraining(id, true))) throw new NodeNotFoundError(id)
    this.#fleetChanged(`drain ${id}`)
    return (await this.getNode(id)) as NodeView
  }

  /** Revokes the node: refused from now on, its session closed, its pins re-allocated. */
  async revoke(id: string): Promise<NodeView> {
    if (!(await this.#registry.nodes.revoke(id))) throw new NodeNotFoundError(id)
    this.#ingests.get(id)?.controller.abort(new PinfoldError('ERR_NODE_REVOKED', 'the node was revoked'))
    this.#ingests.delete(id)
    const node = await this.#registry.nodes.get(id)
    if (node) this.#nodes.set(id, node)
    this.#sessions.get(id)?.close(CLOSE_CODES.revoked, 'ERR_NODE_REVOKED')
    // its peer token stays valid until it expires: every other node refuses it from now on
    for (const session of this.#sessions.values()) session.send({ type: 'revoked-peers', nodeIds: [id] })
    this.#fleetChanged(`revoke ${id}`)
    return (await this.getNode(id)) as NodeView
  }

  /**
   * A node failed a storage challenge for `cid`: its copy is recorded `failed` with the
   * reason and as many attempts as make it stuck, so it stops counting (under-replicated,
   * not a source) and the allocator moves it to another node with room. A later `pinned`
   * report from the node counts only once it passes a challenge again. Idempotent.
   */
  async proofFailed(cid: string, nodeId: string, reason: string): Promise<void> {
    const current = await this.#registry.allocations.get(cid, nodeId)
    if (current?.status !== 'pinned') return
    await this.#registry.allocations.setStatus(cid, nodeId, 'failed', `storage proof failed: ${reason}`.slice(0, 500), {
      attempts: this.#options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    })
    await this.#publishPinStatus(cid, nodeId, 'failed')
    await this.#reconcileOne(cid)
  }

  /** Assigns the account the node's drop-folder files go to (null: the node may not ingest). */
  async setIngestAccount(id: string, accountId: string | null): Promise<NodeView> {
    if (!(await this.#registry.nodes.setIngestAccount(id, accountId))) throw new NodeNotFoundError(id)
    return (await this.getNode(id)) as NodeView
  }

  /** Pins that cannot reach their minimum copies (as of the latest reconcile pass). */
  underReplicated(): UnderReplicatedPin[] {
    return [...this.#underReplicated.values()].sort((a, b) => (a.cid < b.cid ? -1 : 1))
  }

  async pinStatus(pin: Pin): Promise<PinStatusView> {
    const allocations = await this.#registry.allocations.listForCid(pin.cid)
    const rows = await Promise.all(
      allocations.map(async (a) => {
        const node = await this.#registry.nodes.get(a.nodeId)
        return {
          nodeId: a.nodeId,
          nodeName: node?.name ?? null,
          nodeStatus: node ? this.#view(node).status : ('unknown' as const),
          status: a.status,
          attempts: a.attempts,
          reason: a.reason,
          updatedAt: a.updatedAt,
        }
      }),
    )
    return {
      cid: pin.cid,
      replicationMin: pin.replicationMin,
      replicationMax: pin.replicationMax,
      underReplicated: this.#underReplicated.get(pin.cid) ?? null,
      allocations: rows,
    }
  }

  /** Runs a full reconcile pass now (tests, admin). */
  async reconcileNow(reason = 'on demand'): Promise<void> {
    await this.#running?.catch(() => undefined)
    this.#wantFullPass(reason)
    const run = this.#tick()
    this.#running = run
    await run
  }

  #view(node: StorageNode): NodeView {
    const info = node.info as NodeReportInfo
    const state = this.#stateOf(node)
    const connected = this.#sessions.has(node.id)
    const status: NodeView['status'] = node.revoked
      ? 'revoked'
      : state === 'up'
        ? 'online'
        : node.status === 'offline' && node.lastSeen !== null && Date.now() - node.lastSeen < this.#timeouts.downAfterMs
          ? 'offline'
          : 'down'
    return {
      id: node.id,
      name: node.name,
      tags: node.tags,
      status,
      state,
      connected,
      draining: node.draining,
      gatewayUrl: node.address,
      ...gatewayState(node, this.#gateways.claimOf(node.id) ?? info.gateway),
      ingestAccountId: node.ingestAccountId,
      lastSeen: node.lastSeen,
      createdAt: node.createdAt,
      cursor: node.cursor,
      capacity: {
        totalBytes: node.capacity.totalBytes ?? 0,
        usedBytes: node.capacity.usedBytes ?? 0,
        availableBytes: node.capacity.availableBytes ?? 0,
        weightedAvailableBytes: node.capacity.weightedAvailableBytes ?? 0,
      },
      storage: info.storage ?? [],
      pins: info.pins ?? 0,
      queued: info.queued ?? 0,
      failed: info.failed ?? 0,
      version: info.version ?? null,
    }
  }

  // ---- reconcile loop ----------------------------------------------------------------

  #wantFullPass(reason: string): void {
    this.#fullPassWanted = true
    this.#fullPassReasons.add(reason)
  }

  #fleetChanged(reason: string): void {
    this.#fleetGeneration++
    this.#unplaceable.clear()
    this.#wantFullPass(reason)
  }

  /** One tick: node health, feed poll, then a full pass (when due) or the new-pins pass. Ticks never overlap. */
  #tick(): Promise<void> {
    const run = this.#tickChain.then(() => this.#tickOnce())
    this.#tickChain = run
    return run
  }

  async #tickOnce(): Promise<void> {
    if (this.#closed) return
    try {
      const leader = this.#leader()
      // a new leader knows nothing of the passes before it: it starts with a full one
      if (leader && !this.#wasLeader) this.#wantFullPass('became leader')
      this.#wasLeader = leader
      await this.#refreshFleet(leader)
      await this.#pollFeed()
      if (!leader) return
      if (this.#fullPassWanted || Date.now() - this.#lastFullPass > FULL_PASS_EVERY_MS) await this.#fullPass()
      else await this.#newPinsPass()
    } catch (error) {
      if (!this.#closed) this.#log.error({ err: error }, 'reconcile tick failed')
    }
  }

  /** Reloads nodes, records `down` for silent ones (the leader only), and notices state changes. */
  async #refreshFleet(leader: boolean): Promise<void> {
    const now = Date.now()
    const nodes = await this.#registry.nodes.list()
    this.#graced ??= nodesGracedAtStart(nodes, this.#timeouts, this.#startedAt)
    this.#nodes.clear()
    for (const node of nodes) {
      this.#nodes.set(node.id, node)
      const state = this.#stateOf(node, now)
      if (leader && state !== 'up' && node.status === 'online' && !node.revoked) {
        await this.#registry.nodes.heartbeat(node.id, { status: 'down', at: node.lastSeen ?? now })
        this.#log.warn({ nodeId: node.id, name: node.name }, 'storage node is down (no report)')
      }
      const before = this.#states.get(node.id)
      this.#states.set(node.id, state)
      if (before !== undefined && before !== state) this.#fleetChanged(`node ${node.id} ${before} → ${state}`)
      else if (before === undefined && state !== 'gone') this.#fleetChanged(`node ${node.id} seen`)
    }
  }

  /** Safety net for writes this replica did not make (releases, other replicas): wake feeds when the sequence moved. */
  async #pollFeed(): Promise<void> {
    if (this.#sessions.size === 0) return
    const latest = await this.#registry.allocations.latestSeq()
    if (latest !== this.#lastSeq) {
      this.#lastSeq = latest
      this.notify()
    }
  }

  /** The allocator's fleet: reported free space less what queued allocations already promised. */
  async #fleetSnapshot(): Promise<AllocatorNode[]> {
    const now = Date.now()
    const promised = await this.#registry.allocations.promisedBytes()
    return [...this.#nodes.values()].map((n) => {
      const node = toAllocatorNode(n, this.#timeouts, now, this.#graceFrom(n.id))
      const taken = promised.get(n.id)
      if (taken !== undefined) takeSpace(node, storedBytesEstimate(taken.bytes, taken.pins))
      return node
    })
  }

  #stateOf(node: StorageNode, at = Date.now()): NodeState {
    return nodeState(node, this.#timeouts, at, this.#graceFrom(node.id))
  }

  /** The coordinator's start for nodes that were not gone before it (see nodesGracedAtStart). */
  #graceFrom(nodeId: string): number | undefined {
    // until the first fleet load, every node is graced: nothing is re-placed on a guess
    return this.#graced === undefined || this.#graced.has(nodeId) ? this.#startedAt : undefined
  }

  async #fullPass(): Promise<void> {
    const reasons = [...this.#fullPassReasons]
    this.#fullPassWanted = false
    this.#fullPassReasons.clear()
    this.#lastFullPass = Date.now()
    const fleet = await this.#fleetSnapshot()
    const seen = new Set<string>()
    let changed = 0
    let after: string | undefined
    for (;;) {
      const pins = await this.#registry.pins.list({ after, limit: PASS_PAGE })
      for (const pin of pins) {
        seen.add(pin.cid)
        changed += await this.#reconcilePin(pin, fleet)
      }
      if (pins.length < PASS_PAGE || this.#closed) break
      after = pins.at(-1)?.cid
    }
    for (const cid of this.#underReplicated.keys()) if (!seen.has(cid)) this.#underReplicated.delete(cid)
    this.#log.debug({ reasons, pins: seen.size, changed, underReplicated: this.#underReplicated.size }, 'full reconcile pass')
  }

  /** Pins no node holds yet (new uploads, pins the previous fleet could not place). */
  async #newPinsPass(): Promise<void> {
    const fleet = await this.#fleetSnapshot()
    if (!fleet.some((n) => n.state === 'up' && !n.draining)) {
      // nothing can be placed; still report what is waiting
      for (const pin of await this.#registry.pins.listUnallocated({ limit: PASS_PAGE })) this.#noteDecision(pin, undefined)
      return
    }
    let after: string | undefined
    for (let pages = 0; pages < 20 && !this.#closed; pages++) {
      const pins = await this.#registry.pins.listUnallocated({ after, limit: PASS_PAGE })
      for (const pin of pins) {
        if (this.#unplaceable.get(pin.cid) === this.#fleetGeneration) continue
        await this.#reconcilePin(pin, fleet)
      }
      if (pins.length < PASS_PAGE) break
      after = pins.at(-1)?.cid
    }
  }

  /** Applies the allocator's decision for one pin; returns how many allocations changed. */
  async #reconcilePin(pin: Pin, fleet: AllocatorNode[]): Promise<number> {
    const allocations = await this.#registry.allocations.listForCid(pin.cid)
    const decision = decideAllocations(
      { cid: pin.cid, replicationMin: pin.replicationMin, replicationMax: pin.replicationMax, size: pin.size },
      fleet,
      allocations,
      { failureDomainTag: this.#options.failureDomainTag, maxAttempts: this.#options.maxAttempts },
    )
    const touched: string[] = []
    for (const nodeId of decision.allocate) {
      await this.#registry.allocations.allocate(pin.cid, nodeId)
      touched.push(nodeId)
      // later pins of this pass see the space this one takes
      const node = fleet.find((n) => n.id === nodeId)
      if (node) takeSpace(node, storedBytesEstimate(pin.size))
    }
    for (const nodeId of decision.deallocate) {
      await this.#registry.allocations.deallocate(pin.cid, nodeId)
      touched.push(nodeId)
    }
    if (touched.length > 0) {
      this.#log.debug({ cid: pin.cid, allocate: decision.allocate, deallocate: decision.deallocate }, 'allocations changed')
      this.notify(touched)
    }
    if (decision.allocate.length === 0 && allocations.every((a) => a.status === 'unpinning' || a.status === 'unpinned'))
      this.#unplaceable.set(pin.cid, this.#fleetGeneration)
    this.#noteDecision(pin, decision)
    return touched.length
  }

  /** Under-replicated = fewer live copies (pinned on a node that is up) than wanted, whatever is planned. */
  #noteDecision(pin: Pin, decision: AllocationDecision | undefined): void {
    const live = decision?.live ?? 0
    const wanted = decision?.wanted ?? Math.max(pin.replicationMin, 1)
    if (live >= wanted) {
      this.#underReplicated.delete(pin.cid)
      return
    }
    const previous = this.#underReplicated.get(pin.cid)
    this.#underReplicated.set(pin.cid, {
      cid: pin.cid,
      replicationMin: pin.replicationMin,
      replicationMax: pin.replicationMax,
      copies: live,
      wanted,
      reason: decision === undefined ? 'no usable storage node' : (decision.reason ?? `${live} of ${wanted} copies pinned on nodes that are up; the others are being placed or pinned`),
      since: previous?.since ?? Date.now(),
    })
  }
}

/** Takes `bytes` off a node's free space (weighted space in proportion). */
function takeSpace(node: AllocatorNode, bytes: number): void {
  if (bytes <= 0) return
  const ratio = node.available > 0 ? node.weightedAvailable / node.available : 0
  node.available = Math.max(0, node.available - bytes)
  node.weightedAvailable = node.available * ratio
}

/** The operator's view of a node's gateway: the claimed URL and whether it was verified. */
function gatewayState(node: StorageNode, claim: NodeReportInfo['gateway']): Pick<NodeView, 'gatewayVerified' | 'claimedGatewayUrl' | 'gatewayError'> {
  const claimedGatewayUrl = claim?.url ?? node.address
  return {
    gatewayVerified: node.address !== null && node.address === claimedGatewayUrl,
    claimedGatewayUrl,
    gatewayError: claim?.state === 'unverified' ? (claim.error ?? 'not verified') : null,
  }
}
