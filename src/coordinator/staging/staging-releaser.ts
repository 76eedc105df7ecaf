import { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import type { Pin, Registry } from '../../registry/index.ts'
import type { Repo } from '../../repo/index.ts'
import type { ClusterService, NodeView, StorageProver } from '../cluster/index.ts'
import type { ContentReleaser } from '../files/release-content.ts'

/** When the staged copy in the origin repo goes: at the pin's minimum verified copies, at its maximum, or never. */
export type StagingReleaseMode = 'min' | 'max' | 'keep'

export interface StagingReleaserOptions {
  repo: Pick<Repo, 'pins'>
  registry: Pick<Registry, 'pins' | 'allocations'>
  cluster: Pick<ClusterService, 'listNodes' | 'proofFailed' | 'leader'>
  prover: StorageProver
  releaseContent: Pick<ContentReleaser, 'unstage'>
  mode: StagingReleaseMode
  logger: Logger
  /** Between sweeps over every staged pin (besides the check each `pinned` report triggers). */
  sweepIntervalMs?: number
  /** Between audit challenges of released pins' copies (one pin per interval); 0 = never. */
  auditIntervalMs: number
}

/** A copy that passed a challenge counts without another for this long (while the pin is staged). */
const VERIFIED_FOR_MS = 10 * 60_000

/**
 * Releases the coordinator's staged copies and audits the nodes' copies. Only the leader
 * acts (every replica may hold the same staged DAG after a failover; the checks are
 * idempotent). For one staged pin: the copies `pinned` on nodes that are up are each
 * challenged (storage-prover.ts) — a copy counts only once it passed — and when the passed
 * copies reach the target (`min`: `replicationMin`, −1 = every usable node; `max`: the
 * maximum, likewise), the repo pin is removed and GC scheduled. Never with zero copies:
 * the target is at least 1. A failed challenge is reported to the cluster (`proofFailed`:
 * the copy stops counting). Checks run one at a time, in the order asked.
 */
export class StagingReleaser {
  readonly #o: StagingReleaserOptions
  readonly #queue = new Set<string>()
  readonly #verified = new Map<string, number>()
  #running: Promise<void> | undefined
  #timers: NodeJS.Timeout[] = []
  #auditAfter: string | undefined
  #closed = false

  constructor(options: StagingReleaserOptions) {
    this.#o = options
  }

  start(): void {
    const every = (ms: number, run: () => Promise<void>) => {
      const timer = setInterval(() => {
        if (this.#o.cluster.leader) run().catch((err: unknown) => this.#o.logger.error({ err }, 'staging pass failed'))
      }, ms)
      timer.unref()
      this.#timers.push(timer)
    }
    if (this.#o.mode !== 'keep') every(this.#o.sweepIntervalMs ?? 30_000, () => this.sweep())
    if (this.#o.auditIntervalMs > 0) every(this.#o.auditIntervalMs, () => this.auditNext())
  }

  /** A node reported `cid` pinned: check whether its staged copy can go. Never throws. */
  pinned(cid: string): void {
    if (this.#o.mode === 'keep' || this.#closed) return
    this.#queue.add(cid)
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined
    })
  }

  /** Queues every pin the origin repo holds. */
  async sweep(): Promise<void> {
    for await (const pin of this.#o.repo.pins.ls()) {
      if (this.#closed) return
      this.pinned(pin.cid.toString())
    }
    await this.#running
  }

  async #drain(): Promise<void> {
    while (this.#queue.size > 0 && !this.#closed) {
      const cid = this.#queue.values().next().value as string
      this.#queue.delete(cid)
      if (!this.#o.cluster.leader) continue
      await this.#check(cid).catch((err: unknown) => this.#o.logger.error({ err, cid }, 'staging check failed'))
    }
  }

  async #check(cid: string): Promise<void> {
    const { repo, registry, logger } = this.#o
    const parsed = CID.parse(cid)
    const pin = await registry.pins.get(cid)
    // unregistered content is the delete path's (release-content.ts); gone from the repo: done
    if (pin === undefined || (await repo.pins.get(parsed)) === undefined) return
    const nodes = await this.#o.cluster.listNodes()
    const target = releaseTarget(pin, this.#o.mode, nodes)
    const passed = await this.#provenCopies(pin, nodes)
    if (passed.length < target) {
      logger.debug({ cid, passed: passed.length, target }, 'staged copy kept: not enough verified copies yet')
      return
    }
    if (!this.#o.cluster.leader || this.#closed) return
    await this.#o.releaseContent.unstage([cid])
    for (const nodeId of passed) this.#verified.delete(`${cid} ${nodeId}`)
    logger.info({ cid, verifiedCopies: passed.length, target }, 'staged copy released: the storage nodes hold verified copies')
  }

  /** Nodes whose `pinned` copy of the pin passed a challenge (now or within VERIFIED_FOR_MS). */
  async #provenCopies(pin: Pin, nodes: NodeView[]): Promise<string[]> {
    const byId = new Map(nodes.map((n) => [n.id, n]))
    const passed: string[] = []
    for (const allocation of await this.#o.registry.allocations.listForCid(pin.cid)) {
      const node = byId.get(allocation.nodeId)
      if (allocation.status !== 'pinned' || node?.state !== 'up' || node.gatewayUrl === null) continue
      const key = `${pin.cid} ${node.id}`
      const at = this.#verified.get(key)
      if (at !== undefined && Date.now() - at < VERIFIED_FOR_MS) {
        passed.push(node.id)
        continue
      }
      if (await this.#prove(pin.cid, node)) {
        this.#verified.set(key, Date.now())
        passed.push(node.id)
      }
    }
    return passed
  }

  /** Challenges one copy; a failure is reported to the cluster. True when it passed. */
  async #prove(cid: string, node: NodeView): Promise<boolean> {
    const result = await this.#o.prover.challenge((node.gatewayUrl as string).replace(/\/+$/, ''), CID.parse(cid))
    if (result.outcome === 'failed') await this.#o.cluster.proofFailed(cid, node.id, result.reason)
    return result.outcome === 'passed'
  }

  /** Challenges every copy of the next registry pin (round robin over all pins). */
  async auditNext(): Promise<void> {
    const { registry } = this.#o
    let [pin] = await registry.pins.list({ after: this.#auditAfter, limit: 1 })
    if (pin === undefined && this.#auditAfter !== undefined) [pin] = await registry.pins.list({ limit: 1 })
    this.#auditAfter = pin?.cid
    if (pin === undefined) return
    const nodes = new Map((await this.#o.cluster.listNodes()).map((n) => [n.id, n]))
    for (const allocation of await registry.allocations.listForCid(pin.cid)) {
      const node = nodes.get(allocation.nodeId)
      if (allocation.status !== 'pinned' || node?.state !== 'up' || node.gatewayUrl === null || this.#closed) continue
      await this.#prove(pin.cid, node).catch((err: unknown) => this.#o.logger.warn({ err, cid: pin.cid, nodeId: node.id }, 'audit challenge could not be made'))
    }
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const timer of this.#timers) clearInterval(timer)
    await this.#running
  }
}

/** Verified copies needed before the staged copy goes (at least 1: never released when no node holds it). */
export function releaseTarget(pin: Pick<Pin, 'replicationMin' | 'replicationMax'>, mode: StagingReleaseMode, nodes: NodeView[]): number {
  if (mode === 'keep') return Number.POSITIVE_INFINITY
  const usable = nodes.filter((n) => n.state === 'up' && !n.draining && n.status !== 'revoked').length
  const every = mode === 'min' ? pin.replicationMin === -1 : pin.replicationMin === -1 || pin.replicationMax === -1
  const wanted = every ? usable : mode === 'min' ? pin.replicationMin : Math.max(pin.replicationMin, pin.replicationMax)
  return Math.max(1, wanted)
}
