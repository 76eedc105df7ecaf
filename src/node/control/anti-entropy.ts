import { randomUUID } from 'node:crypto'
import { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import type { Repo } from '../../repo/index.ts'
import { PinSet, type ReconcileOptions, SyncInitiator } from '../../sync/index.ts'
import type { EnqueueRequest } from '../executor/queue-store.ts'
import type { OutgoingMessage } from './control-client.ts'

export interface AntiEntropyOptions {
  repo: Repo
  send(message: OutgoingMessage): boolean
  /** Durably queues what the round found (pins with `force`, unpins). */
  enqueue(requests: EnqueueRequest[]): void
  /**
   * The status round found the coordinator's record wrong: `held` are held whole and wanted
   * but not recorded `pinned`; `lacking` are recorded `pinned` but not held. Their true
   * statuses must be reported again (through the durable status outbox).
   */
  restate(held: string[], lacking: string[]): void
  logger: Logger
  /** A round whose reply does not come within this is abandoned. Default 60 s. */
  roundTimeoutMs?: number
  reconcile?: ReconcileOptions
}

export interface AntiEntropyResult {
  session: string
  need: number
  have: number
  /** Statuses the status round found wrong on the coordinator (and had reported again). */
  restated: number
  roundTrips: number
  bytesSent: number
  bytesReceived: number
}

type Scope = 'desired' | 'pinned'

interface Session {
  id: string
  scope: Scope
  initiator: SyncInitiator
  /** CIDs this round found (strings): only the node has them / only the coordinator has them. */
  need: string[]
  have: string[]
  timer: NodeJS.Timeout | undefined
  resolve(result: Round | undefined): void
}

interface Round {
  need: string[]
  have: string[]
  stats: SyncInitiator['stats']
}

/**
 * Anti-entropy, node side (initiator): on `sync-request` it snapshots the held set (the
 * repo's recursive pins) into a {@link PinSet}, sends the first `sync` frame and answers the
 * coordinator's replies until the initiator has nothing left to ask. The set round's findings
 * are queued at once: `need` → pin (forced: the repo does not hold it), `have` → unpin.
 * Then a status round reconciles the held-and-wanted set (held − have) with what the
 * coordinator records as `pinned`, so statuses converge whatever reports were lost: both
 * kinds of difference are reported again (`restate`). `sync-done` with the totals ends the
 * session. Each round's bytes grow with its differences. One session at a time; a request during a session is
 * remembered and run right after it. A lost connection or a silent coordinator abandons the
 * session (the next request starts afresh — the protocol is stateless between messages).
 */
export class AntiEntropy {
  readonly #options: AntiEntropyOptions
  readonly #log: Logger
  #session: Session | undefined
  #again: string | undefined
  #starting = false
  /** Results of finished sessions (tests, metrics). */
  readonly completed: AntiEntropyResult[] = []

  constructor(options: AntiEntropyOptions) {
    this.#options = options
    this.#log = options.logger
  }

  get running(): boolean {
    return this.#session !== undefined || this.#starting
  }

  /** Starts a session (or queues one after the running one). Resolves with its result, undefined if abandoned. */
  async request(reason: string): Promise<AntiEntropyResult | undefined> {
    if (this.running) {
      this.#again = reason
      return undefined
    }
    this.#starting = true
    let held: Uint8Array[]
    try {
      held = await this.#heldCids()
    } finally {
      this.#starting = false
    }
    const id = randomUUID()
    this.#log.info({ session: id, reason }, 'anti-entropy started')
    const outcome = await this.#reconcile(id, held)
    const again = this.#again
    this.#again = undefined
    if (again !== undefined) void this.request(again)
    return outcome
  }

  async #reconcile(id: string, held: Uint8Array[]): Promise<AntiEntropyResult | undefined> {
    const sets = await this.#round(id, 'desired', held)
    if (sets === undefined) return undefined
    const extra = new Set(sets.have)
    const wanted = held.filter((bytes) => !extra.has(CID.decode(bytes).toString()))
    const statuses = await this.#round(`${id}.status`, 'pinned', wanted)
    if (statuses === undefined) return undefined
    if (statuses.have.length + statuses.need.length > 0) this.#options.restate(statuses.have, statuses.need)
    this.#options.send({ type: 'sync-done', session: id, need: sets.need.length, have: sets.have.length })
    const done: AntiEntropyResult = {
      session: id,
      need: sets.need.length,
      have: sets.have.length,
      restated: statuses.have.length + statuses.need.length,
      roundTrips: sets.stats.roundTrips + statuses.stats.roundTrips,
      bytesSent: sets.stats.bytesSent + statuses.stats.bytesSent,
      bytesReceived: sets.stats.bytesReceived + statuses.stats.bytesReceived,
    }
    this.completed.push(done)
    this.#log.info(done, 'anti-entropy done')
    return done
  }

  /** One reconciliation of `cids` with the coordinator's `scope` set; undefined if abandoned. */
  #round(id: string, scope: Scope, cids: Uint8Array[]): Promise<Round | undefined> {
    const initiator = new SyncInitiator(PinSet.from(cids), this.#options.reconcile)
    const result = new Promise<Round | undefined>((resolve) => {
      this.#session = { id, scope, initiator, need: [], have: [], timer: undefined, resolve }
    })
    this.#sendRound(initiator.initiate())
    return result
  }

  /** A `sync` frame from the coordinator. */
  onSync(message: { session: string; payload: string }): void {
    const session = this.#session
    if (session === undefined || session.id !== message.session) {
      this.#log.debug({ session: message.session }, 'sync frame for no running session; ignored')
      return
    }
    clearTimeout(session.timer)
    try {
      const result = session.initiator.reconcile(new Uint8Array(Buffer.from(message.payload, 'base64')))
      const need = result.need.map((bytes) => CID.decode(bytes).toString())
      const have = result.have.map((bytes) => CID.decode(bytes).toString())
      if (session.scope === 'desired') {
        const requests: EnqueueRequest[] = [
          ...need.map((cid) => ({ cid, action: 'pin' as const, force: true })),
          ...have.map((cid) => ({ cid, action: 'unpin' as const })),
        ]
        if (requests.length > 0) this.#options.enqueue(requests)
      }
      session.need.push(...need)
      session.have.push(...have)
      if (result.reply !== undefined) {
        this.#sendRound(result.reply)
        return
      }
      this.#finish({ need: session.need, have: session.have, stats: session.initiator.stats })
    } catch (err) {
      this.#log.error({ err, session: session.id }, 'anti-entropy failed')
      this.#finish(undefined)
    }
  }

  /** The control connection dropped: the running session cannot finish. */
  abandon(): void {
    if (this.#session !== undefined) this.#log.warn({ session: this.#session.id }, 'anti-entropy abandoned')
    this.#again = undefined
    this.#finish(undefined)
  }

  #sendRound(payload: Uint8Array): void {
    const session = this.#session
    if (session === undefined) return
    const frame = { type: 'sync' as const, session: session.id, scope: session.scope, payload: Buffer.from(payload).toString('base64') }
    if (!this.#options.send(frame)) {
      this.#finish(undefined)
      return
    }
    session.timer = setTimeout(() => {
      this.#log.warn({ session: session.id }, 'coordinator did not answer a sync round in time')
      this.#finish(undefined)
    }, this.#options.roundTimeoutMs ?? 60_000)
    session.timer.unref?.()
  }

  #finish(result: Round | undefined): void {
    const session = this.#session
    if (session === undefined) return
    clearTimeout(session.timer)
    this.#session = undefined
    session.resolve(result)
  }

  async #heldCids(): Promise<Uint8Array[]> {
    const cids: Uint8Array[] = []
    for await (const pin of this.#options.repo.pins.ls({ recursive: true })) cids.push(pin.cid.bytes)
    return cids
  }
}
