import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'

export interface CoordinatorKey {
  privateKey: KeyObject
  /** Raw 32-byte Ed25519 public key, as sent in `welcome.coordinatorKey`. */
  publicKey: Uint8Array
}

/** The coordinator's Ed25519 signing key (peer tokens) from its PKCS#8 PEM; throws on anything else. */
export function coordinatorKeyFromPem(pem: string): CoordinatorKey {
  const privateKey = createPrivateKey(pem)
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`the coordinator key must be Ed25519, not ${privateKey.asymmetricKeyType}`)
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as { x?: string }
  return { privateKey, publicKey: new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url')) }
}

/** A new coordinator signing key as PKCS#8 PEM. */
export function newCoordinatorKeyPem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
}
