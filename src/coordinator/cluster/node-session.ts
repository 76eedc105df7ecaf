import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import {
  type ChangeEntry,
  type ClusterSecret,
  CONTROL_PROTOCOL_VERSION,
  type CoordinatorMessage,
  type NodeMessage,
  nodeIdFromPublicKey,
  parseNodeMessage,
  verifyNodeSignature,
} from '../../cluster/index.ts'
import { PinfoldError, rejectControlCharacters } from '../../core/index.ts'
import type { AllocationChange, Registry, StorageNode } from '../../registry/index.ts'

/** The socket a session runs on (the `ws` WebSocket @fastify/websocket hands over, or a test double). */
export interface ControlSocket {
  readonly readyState: number
  readonly bufferedAmount: number
  send(data: string): void
  close(code?: number, reason?: string): void
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): unknown
  on(event: 'close', listener: () => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
}

type JoinMessage = Extract<NodeMessage, { type: 'join' }>
type ReportMessage = Extract<NodeMessage, { type: 'report' }>
type StatusMessage = Extract<NodeMessage, { type: 'status' }>
type SyncMessage = Extract<NodeMessage, { type: 'sync' }>
type SyncDoneMessage = Extract<NodeMessage, { type: 'sync-done' }>
type IngestedMessage = Extract<NodeMessage, { type: 'ingested' }>

/** What a session needs from the cluster service. */
export interface SessionHost {
  registry: Registry
  secret: ClusterSecret
  /** Raw Ed25519 public key of the coordinator (peer tokens are signed with its private half). */
  coordinatorPublicKey: Uint8Array
  logger: Logger
  issuePeerToken(nodeId: string): Promise<{ token: string; expiresAt: number }>
  /** Called after a node proved itself: registers/updates it and installs the session (replacing an older one). */
  admitted(session: NodeSession, join: JoinMessage): Promise<void>
  /** After `welcome` went out: the session is open. */
  welcomed(session: NodeSession): void
  ended(session: NodeSession): void
  report(session: NodeSession, report: ReportMessage): Promise<void>
  status(session: NodeSession, message: StatusMessage): Promise<void>
  sync(session: NodeSession, message: SyncMessage): Promise<void>
  syncDone(session: NodeSession, message: SyncDoneMessage): void
  /** Sources per CID, each source URL with a token bound to it (see ClusterService.locate). */
  locate(session: NodeSession, cids: string[]): Promise<{ sources: { cid: string; urls: string[] }[]; tokens: Record<string, string> }>
  /** A drop-folder file the node imported and pinned (idempotent: the node may resend). Never throws. */
  ingested(session: NodeSession, message: IngestedMessage): Promise<void>
  /** The pin's size and name for `pin` changes. */
  pinInfo(cids: string[]): Promise<Map<string, { size: number; name: string | null }>>
}

/** Changes per `changes` message (and per registry page). */
export const FEED_PAGE = 1000
/** Stop sending while this much is queued on the socket (bounded memory for slow nodes). */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024
const HANDSHAKE_TIMEOUT_MS = 15_000

/** WebSocket close codes used by the coordinator (4000–4999 are application codes). */
export const CLOSE_CODES = { refused: 4001, invalid: 4002, replaced: 4003, revoked: 4004, shutdown: 1001 } as const

/**
 * One node's control session, in the order control-messages.ts documents: challenge →
 * join → welcome|refused, then the change feed from the node's cursor, reports, statuses,
 * anti-entropy and locate, and a fresh peer token before the last one expires.
 */
export class NodeSession {
  readonly #socket: ControlSocket
  readonly #host: SessionHost
  readonly #onRefused: ((code: string) => void) | undefined
  readonly #nonce = new Uint8Array(randomBytes(32))
  #log: Logger
  #nodeId: string | undefined
  #state: 'challenged' | 'joining' | 'open' | 'closed' = 'challenged'
  /** Highest change seq read from the registry for this node (sent or skipped). */
  #sentSeq = 0
  #pumping = false
  #pumpAgain = false
  #promisedMore = false
  #tokenTimer: NodeJS.Timeout | undefined
  #handshakeTimer: NodeJS.Timeout | undefined
  #work: Promise<void> = Promise.resolve()
  /** When the node connected (ms). */
  readonly connectedAt = Date.now()

  constructor(socket: ControlSocket, host: SessionHost, onRefused?: (code: string) => void) {
    this.#socket = socket
    this.#host = host
    this.#onRefused = onRefused
    this.#log = host.logger
    socket.on('message', (data) => {
      // frames are handled one at a time, in order
      this.#work = this.#work.then(() => this.#onFrame(data)).catch((error: unknown) => this.#fail(error))
    })
    socket.on('close', () => this.#closed())
    socket.on('error', (error) => this.#log.debug({ err: error }, 'control socket error'))
    this.#handshakeTimer = setTimeout(() => this.close(CLOSE_CODES.invalid, 'handshake timeout'), HANDSHAKE_TIMEOUT_MS)
    this.send({ type: 'challenge', protocol: CONTROL_PROTOCOL_VERSION, nonce: b64(this.#nonce) })
  }

  /** The node's id once it joined. */
  get nodeId(): string | undefined {
    return this.#nodeId
  }

  get open(): boolean {
    return this.#state === 'open'
  }

  send(message: CoordinatorMessage): void {
    if (this.#socket.readyState !== 1) return
    this.#socket.send(JSON.stringify(message))
  }

  close(code: number, reason: string): void {
    if (this.#state === 'closed') return
    try {
      this.#socket.close(code, reason)
    } catch {
      // already closing
    }
    this.#closed()
  }

  /** Sends the node's changes after what was already sent; coalesces concurrent calls. */
  async pump(): Promise<void> {
    if (this.#state !== 'open' || this.#nodeId === undefined) return
    if (this.#pumping) {
      this.#pumpAgain = true
      return
    }
    this.#pumping = true
    const nodeId = this.#nodeId
    try {
      do {
        this.#pumpAgain = false
        for (;;) {
          if (this.#state !== 'open') return
          const page = await this.#host.registry.allocations.changesSince(nodeId, this.#sentSeq, { limit: FEED_PAGE })
          if (page.length === 0) {
            if (this.#promisedMore) this.send({ type: 'changes', changes: [], more: false })
            this.#promisedMore = false
            break
          }
          const changes = await this.#toChanges(page)
          this.#sentSeq = page.at(-1)?.seq ?? this.#sentSeq
          const more = page.length === FEED_PAGE
          if (changes.length > 0 || (this.#promisedMore && !more)) this.send({ type: 'changes', changes, more })
          this.#promisedMore = more && (changes.length > 0 || this.#promisedMore)
          await this.#drainSocket()
          if (!more) break
        }
      } while (this.#pumpAgain)
    } catch (error) {
      this.#log.warn({ err: error }, 'change feed failed; the next notification retries')
    } finally {
      this.#pumping = false
    }
  }

  /**
   * Feed entries for the node: `queued` → pin, `unpinning` → unpin. The node's own reports
   * (pinning, pinned, failed, unpinned) also advance the sequence but are not echoed back.
   */
  async #toChanges(page: AllocationChange[]): Promise<ChangeEntry[]> {
    const relevant = page.filter((c) => c.status === 'queued' || c.status === 'unpinning')
    const info = await this.#host.pinInfo([...new Set(relevant.filter((c) => c.status === 'queued').map((c) => c.cid))])
    return relevant.map((c) => {
      const entry: ChangeEntry = { seq: c.seq, cid: c.cid, action: c.status === 'queued' ? 'pin' : 'unpin' }
      const pin = c.status === 'queued' ? info.get(c.cid) : undefined
      if (pin) {
        if (pin.size > 0) entry.size = pin.size
        if (pin.name) entry.name = pin.name
      }
      return entry
    })
  }

  async #drainSocket(): Promise<void> {
    while (this.#socket.bufferedAmount > MAX_BUFFERED_BYTES && this.#state === 'open') {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  async #onFrame(data: Buffer | ArrayBuffer | Buffer[]): Promise<void> {
    if (this.#state === 'closed') return
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)
    let message: NodeMessage
    try {
      message = parseNodeMessage(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'ERR_INVALID_CONTROL_MESSAGE'
      this.#log.warn({ err: error, nodeId: this.#nodeId }, 'invalid control message; closing')
      if (this.#state !== 'open') this.send({ type: 'refused', code, message: (error as Error).message })
      this.close(CLOSE_CODES.invalid, code)
      return
    }
    if (this.#state === 'challenged') {
      if (message.type !== 'join') return this.#refuse('ERR_INVALID_CONTROL_MESSAGE', `expected join, got ${message.type}`)
      this.#state = 'joining'
      return this.#join(message)
    }
    if (this.#state !== 'open') return
    switch (message.type) {
      case 'join':
        return this.#refuse('ERR_INVALID_CONTROL_MESSAGE', 'already joined')
      case 'ack':
        await this.#host.registry.nodes.setCursor(this.#nodeId as string, message.seq)
        return
      case 'report':
        return this.#host.report(this, message)
      case 'status':
        await this.#host.status(this, message)
        // only now: the node drops acknowledged statuses from its durable outbox
        if (message.id !== undefined) this.send({ type: 'status-ack', id: message.id })
        return
      case 'sync':
        return this.#host.sync(this, message)
      case 'sync-done':
        return this.#host.syncDone(this, message)
      case 'locate':
        this.send({ type: 'sources', ...(await this.#host.locate(this, message.cids)) })
        return
      case 'ingested':
        return this.#host.ingested(this, message)
    }
  }

  async #join(join: JoinMessage): Promise<void> {
    const log = this.#log.child({ nodeId: join.nodeId, name: join.name })
    if (join.protocol !== CONTROL_PROTOCOL_VERSION)
      return this.#refuse('ERR_PROTOCOL_VERSION', `protocol ${join.protocol} is not supported (want ${CONTROL_PROTOCOL_VERSION})`)
    const publicKey = fromB64(join.publicKey)
    if (!this.#host.secret.check('join', fromB64(join.proof), this.#nonce, publicKey)) {
      log.warn('join refused: wrong cluster secret')
      return this.#refuse('ERR_CLUSTER_SECRET', 'the proof of the cluster secret is wrong')
    }
    if (nodeIdFromPublicKey(publicKey) !== join.nodeId || !verifyNodeSignature(publicKey, this.#nonce, fromB64(join.signature))) {
      log.warn('join refused: forged identity')
      return this.#refuse('ERR_FORGED_IDENTITY', 'the node id or the signature does not match the public key')
    }
    const unsafe = unsafeLabel(join)
    if (unsafe !== undefined) return this.#refuse('ERR_CONTROL_CHARACTER', unsafe)
    const existing: StorageNode | undefined = await this.#host.registry.nodes.get(join.nodeId)
    if (existing?.revoked) {
      log.warn('join refused: node revoked')
      return this.#refuse('ERR_NODE_REVOKED', `node ${join.nodeId} was removed from the cluster`)
    }
    this.#nodeId = join.nodeId
    this.#log = log
    await this.#host.admitted(this, join)
    if ((this.#state as string) === 'closed') return
    const { token, expiresAt } = await this.#host.issuePeerToken(join.nodeId)
    const latestSeq = await this.#host.registry.allocations.latestSeq()
    clearTimeout(this.#handshakeTimer)
    this.#state = 'open'
    this.#sentSeq = join.cursor
    this.send({
      type: 'welcome',
      nodeId: join.nodeId,
      coordinatorProof: b64(this.#host.secret.prove('welcome', fromB64(join.nodeNonce), this.#nonce)),
      coordinatorKey: b64(this.#host.coordinatorPublicKey),
      peerToken: token,
      peerTokenExpiresAt: expiresAt,
      latestSeq,
    })
    log.info({ cursor: join.cursor, latestSeq }, 'node joined')
    this.#scheduleTokenRefresh(expiresAt)
    this.#host.welcomed(this)
    void this.pump()
  }

  #scheduleTokenRefresh(expiresAt: number): void {
    clearTimeout(this.#tokenTimer)
    // at 80 % of the lifetime, so the node never presents an expired token
    const delay = Math.max(1000, (expiresAt - Date.now()) * 0.8)
    this.#tokenTimer = setTimeout(() => {
      if (this.#state !== 'open' || this.#nodeId === undefined) return
      this.#host
        .issuePeerToken(this.#nodeId)
        .then(({ token, expiresAt: next }) => {
          this.send({ type: 'peer-token', peerToken: token, peerTokenExpiresAt: next })
          this.#scheduleTokenRefresh(next)
        })
        .catch((error: unknown) => this.#log.warn({ err: error }, 'peer token renewal failed'))
    }, delay)
    this.#tokenTimer.unref()
  }

  #refuse(code: string, message: string): void {
    this.#onRefused?.(code)
    this.send({ type: 'refused', code, message })
    this.close(CLOSE_CODES.refused, code)
  }

  #fail(error: unknown): void {
    this.#log.error({ err: error }, 'control session failed')
    this.close(1011, 'internal error')
  }

  #closed(): void {
    if (this.#state === 'closed') return
    const wasOpen = this.#state === 'open'
    this.#state = 'closed'
    clearTimeout(this.#tokenTimer)
    clearTimeout(this.#handshakeTimer)
    if (wasOpen) {
      this.#log.info('node disconnected')
      this.#host.ended(this)
    }
  }
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')
const fromB64 = (text: string) => new Uint8Array(Buffer.from(text, 'base64'))

/** Why the join's name, version or tags cannot be shown to an operator as they are, if so. */
function unsafeLabel(join: JoinMessage): string | undefined {
  try {
    rejectControlCharacters(join.name, 'node name')
    rejectControlCharacters(join.version, 'node version')
    for (const [key, value] of Object.entries(join.tags)) {
      rejectControlCharacters(key, 'node tag')
      rejectControlCharacters(value, 'node tag')
    }
    return undefined
  } catch (error) {
    if (error instanceof PinfoldError) return error.message
    throw error
  }
}
