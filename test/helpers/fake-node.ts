import { generateKeyPairSync, sign } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import {
  CONTROL_PROTOCOL_VERSION,
  type CoordinatorMessage,
  clusterSecret,
  type NodeIdentity,
  type NodeMessage,
  nodeIdFromPublicKey,
  parseCoordinatorMessage,
} from '../../src/cluster/index.ts'

export type Msg<T extends CoordinatorMessage['type']> = Extract<CoordinatorMessage, { type: T }>

/** A scripted storage node speaking the control protocol over a real WebSocket. */
export class FakeNode {
  readonly ws: WebSocket
  readonly received: CoordinatorMessage[] = []
  readonly closed: Promise<number>
  #waiters: (() => void)[] = []

  constructor(url: string) {
    this.ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/nodes/connect`)
    this.ws.addEventListener('message', (event) => {
      this.received.push(parseCoordinatorMessage(String(event.data)))
      for (const wake of this.#waiters.splice(0)) wake()
    })
    this.closed = new Promise((resolve) => this.ws.addEventListener('close', (event) => resolve(event.code)))
  }

  send(message: NodeMessage): void {
    this.ws.send(JSON.stringify(message))
  }

  /** The first message of `type` (matching `pred`) not yet taken. */
  async next<T extends CoordinatorMessage['type']>(type: T, pred: (m: Msg<T>) => boolean = () => true, timeoutMs = 10_000): Promise<Msg<T>> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const index = this.received.findIndex((m) => m.type === type && pred(m as Msg<T>))
      if (index >= 0) return this.received.splice(index, 1)[0] as Msg<T>
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no ${type} within ${timeoutMs} ms; got ${this.received.map((m) => m.type).join(',')}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200))
        this.#waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  close(): void {
    this.ws.close()
  }
}

export const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')
export const fromB64 = (text: string) => new Uint8Array(Buffer.from(text, 'base64'))

export async function randomCid(): Promise<string> {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  return CID.create(1, raw.code, await sha256.digest(bytes)).toString()
}

/** An honest `join` answering `nonce`: signed by `identity`, proving `secret` (which may be a wrong guess). */
export function signedJoin(identity: NodeIdentity, nonce: Uint8Array, secret: string, name = 'peer'): Extract<NodeMessage, { type: 'join' }> {
  return {
    type: 'join',
    protocol: CONTROL_PROTOCOL_VERSION,
    nodeId: identity.id,
    publicKey: b64(identity.publicKey),
    signature: b64(identity.sign(nonce)),
    proof: b64(clusterSecret(secret).prove('join', nonce, identity.publicKey)),
    nodeNonce: b64(crypto.getRandomValues(new Uint8Array(32))),
    name,
    version: 'test',
    tags: {},
    cursor: 0,
  }
}

/**
 * One control session: answers the challenge with `join(nonce)` and closes after `welcome`;
 * returns what the coordinator sent until the socket closed (given up after 10 s).
 */
export async function joinOnce(url: string, join: (nonce: Uint8Array) => NodeMessage): Promise<CoordinatorMessage[]> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/nodes/connect`)
  const received: CoordinatorMessage[] = []
  const closed = new Promise<void>((resolve) => ws.addEventListener('close', () => resolve()))
  ws.addEventListener('message', (event) => {
    const message = parseCoordinatorMessage(String(event.data))
    received.push(message)
    if (message.type === 'welcome') ws.close()
    if (message.type === 'challenge') ws.send(JSON.stringify(join(fromB64(message.nonce))))
  })
  const timer = setTimeout(() => ws.close(), 10_000)
  await closed
  clearTimeout(timer)
  return received
}

/** A node identity held in memory only (no key file). */
export function memoryIdentity(): NodeIdentity {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const raw = new Uint8Array(Buffer.from((publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url'))
  return { id: nodeIdFromPublicKey(raw), publicKey: raw, sign: (message) => new Uint8Array(sign(null, message, privateKey)) }
}
