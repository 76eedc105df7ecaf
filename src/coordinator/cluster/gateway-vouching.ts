import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { checkIdentityAnswer, GATEWAY_IDENTITY_PATH } from '../../cluster/index.ts'
import type { Registry, StorageNode } from '../../registry/index.ts'

/** What the coordinator knows of a node's claimed gateway URL (shown to operators, kept in the node's `info`). */
export interface GatewayClaim {
  url: string
  state: 'pending' | 'verified' | 'unverified'
  /** Why the last check failed (unverified only). */
  error?: string
  checkedAt?: number
}

/** Fetches `url` (GET, no redirects, bounded body) and returns its status and text. */
export type IdentityFetch = (url: string, signal: AbortSignal) => Promise<{ status: number; body: string }>

export interface GatewayVouchingOptions {
  registry: Registry
  logger: Logger
  /** Called after a node's vouched-for address changed (the cluster reloads its view of the node). */
  onChange(nodeId: string): void
  /** Per check. Default 5 s. */
  timeoutMs?: number
  /** A failed URL claimed again is re-checked after this long. Default 60 s. */
  retryAfterMs?: number
  /** Replaces the HTTP fetch (tests). */
  fetch?: IdentityFetch
}

const MAX_ANSWER_BYTES = 4096

/**
 * The coordinator vouches only for gateway URLs it has seen its node answer at: a URL a
 * node claims (in `join` or `report`) is recorded as the node's registry `address` — the one
 * place `locate`, ingest, repair and the Pinning Service `delegates` read gateway URLs from
 * — only after `GET <url>/.well-known/pinfold/identity?nonce=…` answered with the node's
 * Ed25519 signature over a fresh nonce. Until then, and after a failed check, the address
 * is null, so an unverified URL is never handed to anyone. One check per node at a time;
 * a claim equal to the last one is not re-checked (except a failed one, after
 * `retryAfterMs`). The coordinator follows no redirect and reads at most 4 KiB of answer.
 */
export class GatewayVouching {
  readonly #options: GatewayVouchingOptions
  readonly #claims = new Map<string, GatewayClaim>()
  readonly #checking = new Map<string, Promise<void>>()

  constructor(options: GatewayVouchingOptions) {
    this.#options = options
  }

  /** The node's current claim, if it made one to this coordinator. */
  claimOf(nodeId: string): GatewayClaim | undefined {
    return this.#claims.get(nodeId)
  }

  /** Resolves when the node's claim in progress (if any) was checked. Never rejects. */
  checked(nodeId: string): Promise<void> {
    return this.#checking.get(nodeId) ?? Promise.resolve()
  }

  /**
   * The node (already authenticated on its control channel) claims `url`. A new URL takes
   * the node's address away until verified; `fresh` (a new session) re-checks even an
   * unchanged URL, keeping the address meanwhile. Never throws; resolves when the check ends.
   */
  claim(nodeId: string, url: string | undefined, options: { fresh?: boolean } = {}): Promise<void> {
    if (url === undefined) return Promise.resolve()
    const known = this.#claims.get(nodeId)
    const retryDue = known?.state === 'unverified' && Date.now() - (known.checkedAt ?? 0) >= (this.#options.retryAfterMs ?? 60_000)
    if (known?.url === url && !options.fresh && !retryDue) return this.checked(nodeId)
    this.#claims.set(nodeId, { url, state: 'pending' })
    const run = (this.#checking.get(nodeId) ?? Promise.resolve()).then(() => this.#check(nodeId, url))
    this.#checking.set(nodeId, run)
    void run.finally(() => {
      if (this.#checking.get(nodeId) === run) this.#checking.delete(nodeId)
    })
    return run
  }

  async #check(nodeId: string, url: string): Promise<void> {
    const log = this.#options.logger.child({ nodeId, gatewayUrl: url })
    try {
      const node = await this.#options.registry.nodes.get(nodeId)
      if (node === undefined || node.revoked || this.#claims.get(nodeId)?.url !== url) return
      // an address other than the claimed one is withdrawn before anything is checked
      if (node.address !== null && node.address !== url) await this.#setAddress(nodeId, null)
      const error = await this.#verify(node, url)
      if (this.#claims.get(nodeId)?.url !== url) return // superseded by a newer claim
      this.#claims.set(nodeId, { url, state: error === undefined ? 'verified' : 'unverified', checkedAt: Date.now(), ...(error ? { error } : {}) })
      await this.#setAddress(nodeId, error === undefined ? url : null)
      if (error === undefined) log.info('gateway URL verified')
      else log.warn({ reason: error }, 'gateway URL not verified: it is not handed to other nodes')
    } catch (err) {
      log.warn({ err }, 'gateway URL check failed')
    }
  }

  async #setAddress(nodeId: string, address: string | null): Promise<void> {
    const current = await this.#options.registry.nodes.get(nodeId)
    if (current === undefined || current.address === address) return
    await this.#options.registry.nodes.setAddress(nodeId, address)
    this.#options.onChange(nodeId)
  }

  /** Undefined when the URL answered with the node's signature, else why not. */
  async #verify(node: StorageNode, url: string): Promise<string | undefined> {
    const nonce = randomBytes(32).toString('base64url')
    const target = `${url.replace(/\/+$/, '')}${GATEWAY_IDENTITY_PATH}?nonce=${nonce}`
    const fetchText = this.#options.fetch ?? fetchBounded
    let answer: { status: number; body: string }
    try {
      answer = await fetchText(target, AbortSignal.timeout(this.#options.timeoutMs ?? 5000))
    } catch (err) {
      return `no answer: ${(err as Error).message}`
    }
    if (answer.status !== 200) return `answered HTTP ${answer.status}`
    let parsed: unknown
    try {
      parsed = JSON.parse(answer.body)
    } catch {
      return 'the answer is not JSON'
    }
    const publicKey = new Uint8Array(Buffer.from(node.publicKey, 'base64'))
    return checkIdentityAnswer(publicKey, node.id, nonce, parsed) ? undefined : 'the answer is not signed by this node'
  }
}

async function fetchBounded(url: string, signal: AbortSignal): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { redirect: 'manual', signal, headers: { accept: 'application/json' } })
  const reader = response.body?.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  while (reader) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel()
      throw new Error(`answer over ${MAX_ANSWER_BYTES} bytes`)
    }
    chunks.push(value)
  }
  return { status: response.status, body: Buffer.concat(chunks).toString('utf8') }
}
