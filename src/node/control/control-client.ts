import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import {
  type ChangeEntry,
  CONTROL_PROTOCOL_VERSION,
  type ClusterSecret,
  type CoordinatorMessage,
  clusterSecret,
  type NodeIdentity,
  type NodeMessage,
  parseCoordinatorMessage,
} from '../../cluster/index.ts'

type Of<T extends CoordinatorMessage['type']> = Extract<CoordinatorMessage, { type: T }>
/** Messages a node sends once welcomed (never `join`). */
export type OutgoingMessage = Exclude<NodeMessage, { type: 'join' }>
/** A place to fetch a CID from, with the token bound to it (none: send no token there). */
export interface LocatedSource {
  url: string
  token?: string
}

/** What the control client needs from the rest of the node. */
export interface ControlHandlers {
  /** The highest change sequence number durably applied (sent in `join`). */
  cursor(): number
  /**
   * Durably queues `changes` (all with seq > cursor, in order) and advances the cursor to
   * `seq` in the same transaction; the client acknowledges `seq` only after this returns.
   */
  applyChanges(changes: ChangeEntry[], seq: number): void | Promise<void>
  /** Called with the coordinator's latest sequence number when it is below our cursor (its feed restarted). */
  resetCursor?(latestSeq: number): void
  /** The coordinator asks for an anti-entropy round now. */
  onSyncRequest?(reason: string): void
  /** The coordinator recorded the `status` batch `id`. */
  onStatusAck?(id: number): void
  /** A `sync` frame from the coordinator (a reply in a round we started). */
  onSync?(message: Of<'sync'>): void
  /** The current report fields (sent right after welcome and every `reportIntervalMs`). */
  report?(): Promise<Omit<Extract<NodeMessage, { type: 'report' }>, 'type'>>
  /** A session was welcomed (after the first report is queued). */
  onWelcome?(welcome: Of<'welcome'>): void
  /** Nodes the coordinator revoked: their peer tokens must be refused from now on. */
  onRevokedPeers?(nodeIds: string[]): void
  /** The session ended (any reason). */
  onDisconnect?(): void
}

export interface ControlClientOptions {
  /**
   * The coordinator replicas' base URLs (`http(s)://host:port[/prefix]`) or control endpoints
   * (`ws(s)://…`), at least one. Each reconnect tries the next, so a node whose replica died
   * is back on another after one reconnect delay; its feed resumes from the cursor the
   * registry holds, whichever replica serves it.
   */
  urls: string[]
  secret: string
  identity: NodeIdentity
  name: string
  version: string
  tags: Record<string, string>
  gatewayUrl?: string
  handlers: ControlHandlers
  logger: Logger
  /** Default 5 s. */
  reportIntervalMs?: number
  /** Reconnect delay: base × 2^failures, capped, with jitter (×0.5–1). Defaults 500 ms and 30 s. */
  reconnectBaseMs?: number
  reconnectMaxMs?: number
  /** A coordinator that has not welcomed us within this closes the attempt. Default 10 s. */
  handshakeTimeoutMs?: number
  /** How long `locate` waits for `sources`. Default 10 s. */
  locateTimeoutMs?: number
}

export type ControlState = 'connecting' | 'handshake' | 'connected' | 'closed'

const CONNECT_PATH = '/api/v1/nodes/connect'
const LOCATE_BATCH_MS = 20
const LOCATE_MAX_BATCH = 1000

/** The control endpoint for a coordinator URL given by the operator. */
export function controlUrl(joinUrl: string): string {
  const url = new URL(joinUrl)
  if (url.protocol === 'http:') url.protocol = 'ws:'
  else if (url.protocol === 'https:') url.protocol = 'wss:'
  if (!url.pathname.endsWith(CONNECT_PATH)) url.pathname = `${url.pathname.replace(/\/+$/, '')}${CONNECT_PATH}`
  return url.toString()
}

/** The coordinator's HTTP base URL (where its `/ipfs/` is served) for a join URL. */
export function coordinatorBaseUrl(joinUrl: string): string {
  const url = new URL(joinUrl)
  if (url.protocol === 'ws:') url.protocol = 'http:'
  else if (url.protocol === 'wss:') url.protocol = 'https:'
  url.pathname = url.pathname.endsWith(CONNECT_PATH) ? url.pathname.slice(0, -CONNECT_PATH.length) : url.pathname
  url.search = ''
  url.hash = ''
  return url.toString().replace(/\/+$/, '')
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')
const unb64 = (text: string) => new Uint8Array(Buffer.from(text, 'base64'))

/**
 * The node's end of the control channel (protocol in src/cluster/control-messages.ts).
 *
 * Opens `ws(s)://…/api/v1/nodes/connect`, answers the `challenge` with `join` (identity
 * signature of the challenge nonce + cluster-secret HMAC `join` over (challenge nonce, our
 * public key)), and accepts only a `welcome` whose `coordinatorProof` is the secret's HMAC
 * `welcome` over (our fresh node nonce, challenge nonce) — a coordinator that cannot show the
 * secret is never talked to. Reconnects forever with
 * exponential backoff and jitter (reset by a welcome). While connected: sends `report`
 * periodically, applies `changes` through the handlers and acknowledges them only after
 * they were durably queued (frames are handled strictly in order), keeps the newest peer
 * token, and answers `locate` calls from `sources` frames.
 */
export class ControlClient {
  readonly #options: ControlClientOptions
  readonly #secret: ClusterSecret
  readonly #log: Logger
  #socket: WebSocket | undefined
  #state: ControlState = 'closed'
  #stopped = true
  #failures = 0
  /** Index into `urls` of the replica tried next. */
  #next = 0
  #reconnectTimer: NodeJS.Timeout | undefined
  #reportTimer: NodeJS.Timeout | undefined
  #peerToken: { token: string; expiresAt: number } | undefined
  #coordinatorKey: Uint8Array | undefined
  #inbox: Promise<void> = Promise.resolve()
  readonly #locateWaiters = new Map<string, Array<(sources: LocatedSource[]) => void>>()
  #locateBatch: Set<string> = new Set()
  #locateTimer: NodeJS.Timeout | undefined
  readonly #stateListeners = new Set<(state: ControlState) => void>()
  /** Last refusal or handshake failure, for operators and tests. */
  lastError: { code: string; message: string } | undefined

  constructor(options: ControlClientOptions) {
    this.#options = options
    this.#secret = clusterSecret(options.secret)
    this.#log = options.logger
  }

  get state(): ControlState {
    return this.#state
  }

  /** The current peer token for the coordinator's /ipfs/ (peers refuse it), once welcomed. */
  get peerToken(): string | undefined {
    return this.#peerToken?.token
  }

  /** The coordinator's Ed25519 public key learned at welcome (verifies peer tokens). */
  get coordinatorKey(): Uint8Array | undefined {
    return this.#coordinatorKey
  }

  start(): void {
    if (!this.#stopped) return
    this.#stopped = false
    this.#connect()
  }

  /** Resolves when the state becomes `state` (or at once if it is). */
  waitFor(state: ControlState, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#state === state) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const listener = (s: ControlState) => {
        if (s !== state) return
        this.#stateListeners.delete(listener)
        resolve()
      }
      this.#stateListeners.add(listener)
      options.signal?.addEventListener('abort', () => {
        this.#stateListeners.delete(listener)
        reject(options.signal?.reason)
      })
    })
  }

  /** Sends a message if a session is up; false otherwise (the caller keeps it for later). */
  send(message: OutgoingMessage): boolean {
    const socket = this.#socket
    if (this.#state !== 'connected' || socket === undefined || socket.readyState !== WebSocket.OPEN) return false
    socket.send(JSON.stringify(message))
    return true
  }

  /**
   * Asks the coordinator where `cid` can be fetched (batched with other calls). Resolves
   * with base URLs and the token for each; an empty list when not connected or no answer
   * came in time.
   */
  locate(cid: string): Promise<LocatedSource[]> {
    if (this.#state !== 'connected') return Promise.resolve([])
    return new Promise((resolve) => {
      let settled = false
      const done = (sources: LocatedSource[]) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(sources)
      }
      const timer = setTimeout(() => {
        const waiters = this.#locateWaiters.get(cid)
        if (waiters) {
          const rest = waiters.filter((w) => w !== done)
          if (rest.length === 0) this.#locateWaiters.delete(cid)
          else this.#locateWaiters.set(cid, rest)
        }
        done([])
      }, this.#options.locateTimeoutMs ?? 10_000)
      const waiters = this.#locateWaiters.get(cid) ?? []
      waiters.push(done)
      this.#locateWaiters.set(cid, waiters)
      this.#locateBatch.add(cid)
      if (this.#locateBatch.size >= LOCATE_MAX_BATCH) this.#flushLocate()
      else this.#locateTimer ??= setTimeout(() => this.#flushLocate(), LOCATE_BATCH_MS)
    })
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#reconnectTimer)
    clearTimeout(this.#locateTimer)
    this.#locateTimer = undefined
    const socket = this.#socket
    if (socket !== undefined && socket.readyState !== WebSocket.CLOSED) {
      const closed = new Promise<void>((resolve) => socket.addEventListener('close', () => resolve(), { once: true }))
      socket.close(1000, 'node stopping')
      let timer: NodeJS.Timeout | undefined
      await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, 2000)))])
      // a pending timer would hold the process open for the rest of the 2 s after a prompt close
      clearTimeout(timer)
    }
    this.#endSession()
    await this.#inbox
    this.#setState('closed')
  }

  #setState(state: ControlState): void {
    if (this.#state === state) return
    this.#state = state
    for (const listener of [...this.#stateListeners]) listener(state)
  }

  #connect(): void {
    if (this.#stopped) return
    const urls = this.#options.urls
    const url = controlUrl(urls[this.#next % urls.length] as string)
    this.#next = (this.#next + 1) % urls.length
    this.#setState('connecting')
    this.#log.debug({ url }, 'connecting')
    let socket: WebSocket
    try {
      socket = new WebSocket(url)
    } catch (err) {
      this.#log.error({ err, url }, 'cannot open control connection')
      this.#scheduleReconnect()
      return
    }
    this.#socket = socket
    const nonces: { node: Uint8Array; challenge?: Uint8Array } = { node: new Uint8Array(randomBytes(32)) }
    let welcomed = false
    let dead = false
    const handshakeTimer = setTimeout(() => {
      if (!welcomed) {
        this.#log.warn('coordinator did not complete the handshake in time')
        socket.close(4000, 'handshake timeout')
      }
    }, this.#options.handshakeTimeoutMs ?? 10_000)
    socket.addEventListener('open', () => this.#setState('handshake'))
    socket.addEventListener('message', (event: MessageEvent) => {
      const data = event.data as unknown
      const frame = typeof data === 'string' ? data : new Uint8Array(data as ArrayBuffer)
      // Frames are handled strictly one after another: an ack never overtakes its queueing.
      this.#inbox = this.#inbox.then(async () => {
        if (this.#socket !== socket || dead) return
        try {
          const message = parseCoordinatorMessage(frame)
          if (!welcomed) {
            welcomed = await this.#handshake(socket, message, nonces)
            if (welcomed) clearTimeout(handshakeTimer)
          } else {
            await this.#handle(message)
          }
        } catch (err) {
          dead = true // nothing more from this connection is believed
          const code = (err as { code?: string }).code ?? 'ERR_CONTROL'
          this.#log.error({ err }, 'control session failed')
          this.lastError = { code, message: err instanceof Error ? err.message : String(err) }
          socket.close(code === 'ERR_INVALID_CONTROL_MESSAGE' ? 4002 : 4000, code.slice(0, 100))
        }
      })
    })
    socket.addEventListener('error', () => {
      // 'close' follows; nothing else to do here
    })
    socket.addEventListener('close', (event: CloseEvent) => {
      clearTimeout(handshakeTimer)
      if (this.#socket !== socket) return
      this.#log.info({ code: event.code, reason: event.reason, welcomed }, 'control connection closed')
      this.#endSession()
      this.#socket = undefined
      this.#scheduleReconnect()
    })
  }

  /** Handles one pre-welcome frame; true once welcomed. Throws to end the session. */
  async #handshake(socket: WebSocket, message: CoordinatorMessage, nonces: { node: Uint8Array; challenge?: Uint8Array }): Promise<boolean> {
    const identity = this.#options.identity
    if (message.type === 'challenge') {
      if (message.protocol !== CONTROL_PROTOCOL_VERSION) {
        throw handshakeError('ERR_PROTOCOL_VERSION', `coordinator speaks control protocol ${message.protocol}, we speak ${CONTROL_PROTOCOL_VERSION}`)
      }
      const challenge = unb64(message.nonce)
      if (challenge.length < 16) throw handshakeError('ERR_HANDSHAKE', 'challenge nonce too short')
      if (nonces.challenge !== undefined) throw handshakeError('ERR_HANDSHAKE', 'a second challenge')
      nonces.challenge = challenge
      const join: NodeMessage = {
        type: 'join',
        protocol: CONTROL_PROTOCOL_VERSION,
        nodeId: identity.id,
        publicKey: b64(identity.publicKey),
        signature: b64(identity.sign(challenge)),
        proof: b64(this.#secret.prove('join', challenge, identity.publicKey)),
        nodeNonce: b64(nonces.node),
        name: this.#options.name,
        version: this.#options.version,
        tags: this.#options.tags,
        cursor: this.#options.handlers.cursor(),
      }
      if (this.#options.gatewayUrl !== undefined) join.gatewayUrl = this.#options.gatewayUrl
      socket.send(JSON.stringify(join))
      return false
    }
    if (message.type === 'refused') {
      this.lastError = { code: message.code, message: message.message }
      this.#log.error({ code: message.code }, `coordinator refused this node: ${message.message}`)
      this.#failures = Math.max(this.#failures, 6) // back off harder: a refusal rarely clears at once
      socket.close(1000, 'refused')
      return false
    }
    if (message.type === 'welcome') {
      const proof = unb64(message.coordinatorProof)
      // HMAC over our fresh nonce (and the challenge): only a holder of the secret can answer
      if (nonces.challenge === undefined || !this.#secret.check('welcome', proof, nonces.node, nonces.challenge)) {
        throw handshakeError('ERR_COORDINATOR_PROOF', 'the coordinator could not prove the cluster secret; not talking to it')
      }
      if (message.nodeId !== identity.id) throw handshakeError('ERR_HANDSHAKE', `welcome names node ${message.nodeId}, we are ${identity.id}`)
      const coordinatorKey = unb64(message.coordinatorKey)
      if (coordinatorKey.length !== 32) throw handshakeError('ERR_HANDSHAKE', 'coordinator key is not an Ed25519 public key')
      this.#coordinatorKey = coordinatorKey
      this.#peerToken = { token: message.peerToken, expiresAt: message.peerTokenExpiresAt }
      this.#failures = 0
      this.lastError = undefined
      const cursor = this.#options.handlers.cursor()
      if (message.latestSeq < cursor) {
        this.#log.warn({ cursor, latestSeq: message.latestSeq }, 'coordinator feed is behind our cursor; resetting it')
        this.#options.handlers.resetCursor?.(message.latestSeq)
      }
      this.#setState('connected')
      this.#log.info({ nodeId: identity.id, latestSeq: message.latestSeq, cursor }, 'joined the cluster')
      this.#startReports()
      this.#options.handlers.onWelcome?.(message)
      return true
    }
    throw handshakeError('ERR_HANDSHAKE', `unexpected ${message.type} before welcome`)
  }

  async #handle(message: CoordinatorMessage): Promise<void> {
    const handlers = this.#options.handlers
    switch (message.type) {
      case 'changes': {
        const cursor = handlers.cursor()
        const fresh = message.changes.filter((c) => c.seq > cursor).sort((a, b) => a.seq - b.seq)
        const last = fresh.at(-1)?.seq ?? cursor
        if (fresh.length > 0) await handlers.applyChanges(fresh, last)
        this.send({ type: 'ack', seq: last })
        return
      }
      case 'peer-token':
        this.#peerToken = { token: message.peerToken, expiresAt: message.peerTokenExpiresAt }
        return
      case 'sync-request':
        handlers.onSyncRequest?.(message.reason)
        return
      case 'revoked-peers':
        handlers.onRevokedPeers?.(message.nodeIds)
        return
      case 'sync':
        handlers.onSync?.(message)
        return
      case 'status-ack':
        handlers.onStatusAck?.(message.id)
        return
      case 'sources':
        for (const { cid, urls } of message.sources) {
          const waiters = this.#locateWaiters.get(cid)
          this.#locateWaiters.delete(cid)
          const sources = urls.map((url) => {
            const token = message.tokens?.[url]
            return token === undefined ? { url } : { url, token }
          })
          for (const waiter of waiters ?? []) waiter(sources)
        }
        return
      default:
        throw handshakeError('ERR_INVALID_CONTROL_MESSAGE', `unexpected ${message.type} after welcome`)
    }
  }

  #flushLocate(): void {
    clearTimeout(this.#locateTimer)
    this.#locateTimer = undefined
    const cids = [...this.#locateBatch]
    this.#locateBatch = new Set()
    for (let i = 0; i < cids.length; i += LOCATE_MAX_BATCH) {
      const batch = cids.slice(i, i + LOCATE_MAX_BATCH)
      if (!this.send({ type: 'locate', cids: batch })) {
        for (const cid of batch) {
          const waiters = this.#locateWaiters.get(cid)
          this.#locateWaiters.delete(cid)
          for (const waiter of waiters ?? []) waiter([])
        }
      }
    }
  }

  #startReports(): void {
    const send = async () => {
      const report = this.#options.handlers.report
      if (report === undefined || this.#state !== 'connected') return
      try {
        this.send({ type: 'report', ...(await report()) })
      } catch (err) {
        this.#log.warn({ err }, 'could not build report')
      }
    }
    void send()
    clearInterval(this.#reportTimer)
    this.#reportTimer = setInterval(() => void send(), this.#options.reportIntervalMs ?? 5000)
    this.#reportTimer.unref?.()
  }

  #endSession(): void {
    clearInterval(this.#reportTimer)
    this.#reportTimer = undefined
    const wasConnected = this.#state === 'connected'
    // Nobody will answer outstanding locates on this session.
    for (const waiters of this.#locateWaiters.values()) for (const waiter of waiters) waiter([])
    this.#locateWaiters.clear()
    this.#locateBatch.clear()
    if (!this.#stopped) this.#setState('connecting')
    if (wasConnected) this.#options.handlers.onDisconnect?.()
  }

  #scheduleReconnect(): void {
    if (this.#stopped) return
    const base = this.#options.reconnectBaseMs ?? 500
    const max = this.#options.reconnectMaxMs ?? 30_000
    const delay = Math.min(max, base * 2 ** this.#failures) * (0.5 + Math.random() * 0.5)
    this.#failures = Math.min(this.#failures + 1, 30)
    this.#log.debug({ delayMs: Math.round(delay) }, 'reconnecting later')
    clearTimeout(this.#reconnectTimer)
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay)
  }
}

function handshakeError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code })
}
