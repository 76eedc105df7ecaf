import { type NodeIdentity, verifyNodeSignature } from './node-identity.ts'

/**
 * The gateway identity challenge: before the coordinator hands a node's self-reported
 * gateway URL to anyone, it fetches `GET <url>/.well-known/pinfold/identity?nonce=<fresh>`
 * and checks the answer is the node's Ed25519 signature over the nonce. A node can thus
 * only claim a URL that its own key answers at; an attacker's listener, or another node's
 * gateway, cannot answer for it.
 *
 * The signed message is domain-separated (context string + node id + nonce): the same key
 * signs the raw join challenge, so an endpoint signing raw nonces would let any cluster
 * member who can reach a node's gateway obtain that node's join signature.
 */
export const GATEWAY_IDENTITY_PATH = '/.well-known/pinfold/identity'

/** A nonce as sent in the query: base64url, 16–64 bytes of randomness. */
const NONCE_PATTERN = /^[A-Za-z0-9_-]{22,88}$/

export interface GatewayIdentityAnswer {
  nodeId: string
  /** base64url Ed25519 signature over `identityMessage(nodeId, nonce)`. */
  signature: string
}

function identityMessage(nodeId: string, nonce: string): Uint8Array {
  return new TextEncoder().encode(`pinfold-gateway-identity-v1\n${nodeId}\n${nonce}`)
}

export function isIdentityNonce(nonce: string): boolean {
  return NONCE_PATTERN.test(nonce)
}

/** The node gateway's answer to a challenge (the caller checked `isIdentityNonce`). */
export function answerIdentityChallenge(identity: NodeIdentity, nonce: string): GatewayIdentityAnswer {
  return { nodeId: identity.id, signature: Buffer.from(identity.sign(identityMessage(identity.id, nonce))).toString('base64url') }
}

/** Whether `answer` proves that the key `publicKey` of node `nodeId` answered `nonce`. */
export function checkIdentityAnswer(publicKey: Uint8Array, nodeId: string, nonce: string, answer: unknown): boolean {
  const { nodeId: answeredId, signature } = (answer ?? {}) as Partial<Record<keyof GatewayIdentityAnswer, unknown>>
  if (answeredId !== nodeId || typeof signature !== 'string' || signature.length > 200) return false
  return verifyNodeSignature(publicKey, identityMessage(nodeId, nonce), new Uint8Array(Buffer.from(signature, 'base64url')))
}
