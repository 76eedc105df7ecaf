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
  logger: Logger
  /** A round whose reply does not come within this is abandoned. Default 60 s. */
  roundTimeoutMs?: number
  reconcile?: ReconcileOptions
}

export interface AntiEntropyResult {
  session: string
  need: number
  have: number
  roundTrips: number
  bytesSent: number
  bytesReceived: number
}

interface Session {
  id: string
  initiator: SyncInitiator
  need: number
  have: number
  timer: NodeJS.Timeout | undefined
  resolve(result: AntiEntropyResult | undefined): void
}

/**
 * Anti-entropy, node side (initiator): on `sync-request` it snapshots the held set (the
 * repo's recursive pins) into a {@link PinSet}, sends the first `sync` frame and answers the
 * coordinator's replies until the initiator has nothing left to ask, then `sync-done` with
 * the totals. Every round's findings are queued at once: `need` → pin (forced: the repo
 * does not hold it), `have` → unpin. One session at a time; a request during a session is
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
    let initiator: SyncInitiator
    try {
      initiator = new SyncInitiator(await this.#heldSet(), this.#options.reconcile)
    } finally {
      this.#starting = false
    }
    const id = randomUUID()
    this.#log.info({ session: id, reason }, 'anti-entropy started')
    const result = new Promise<AntiEntropyResult | undefined>((resolve) => {
      this.#session = { id, initiator, need: 0, have: 0, timer: undefined, resolve }
    })
    this.#sendRound(initiator.initiate())
    const outcome = await result
    const again = this.#again
    this.#again = undefined
    if (again !== undefined) void this.request(again)
    return outcome
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
      const requests: EnqueueRequest[] = []
      for (const bytes of result.need) requests.push({ cid: CID.decode(bytes).toString(), action: 'pin', force: true })
      for (const bytes of result.have) requests.push({ cid: CID.decode(bytes).toString(), action: 'unpin' })
      if (requests.length > 0) this.#options.enqueue(requests)
      session.need += result.need.length
      session.have += result.have.length
      if (result.reply !== undefined) {
        this.#sendRound(result.reply)
        return
      }
      this.#options.send({ type: 'sync-done', session: session.id, need: session.need, have: session.have })
      const stats = session.initiator.stats
      const done: AntiEntropyResult = { session: session.id, need: session.need, have: session.have, ...stats }
      this.completed.push(done)
      this.#log.info(done, 'anti-entropy done')
      this.#finish(done)
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
    if (!this.#options.send({ type: 'sync', session: session.id, payload: Buffer.from(payload).toString('base64') })) {
      this.#finish(undefined)
      return
    }
    session.timer = setTimeout(() => {
      this.#log.warn({ session: session.id }, 'coordinator did not answer a sync round in time')
      this.#finish(undefined)
    }, this.#options.roundTimeoutMs ?? 60_000)
    session.timer.unref?.()
  }

  #finish(result: AntiEntropyResult | undefined): void {
    const session = this.#session
    if (session === undefined) return
    clearTimeout(session.timer)
    this.#session = undefined
    session.resolve(result)
  }

  async #heldSet(): Promise<PinSet> {
    const cids: Uint8Array[] = []
    for await (const pin of this.#options.repo.pins.ls({ recursive: true })) cids.push(pin.cid.bytes)
    return PinSet.from(cids)
  }
}
