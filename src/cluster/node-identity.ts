import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { base32 } from 'multiformats/bases/base32'

/** A storage node's Ed25519 identity; its id is derived from the public key alone. */
export interface NodeIdentity {
  id: string
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array
  sign(message: Uint8Array): Uint8Array
}

const IDENTITY_FILE = 'node-identity.pem'

/** `pf` + base32 of SHA-256(public key), first 26 characters (130 bits): short, stable, derived. */
export function nodeIdFromPublicKey(publicKey: Uint8Array): string {
  return `pf${base32.baseEncode(createHash('sha256').update(publicKey).digest()).slice(0, 26)}`
}

/** Loads `<dir>/node-identity.pem`, creating it (mode 0600) on first start. */
export async function loadOrCreateNodeIdentity(dir: string): Promise<NodeIdentity> {
  const file = join(dir, IDENTITY_FILE)
  const pem = await readFile(file, 'utf8').catch(() => undefined)
  let privateKey: KeyObject
  if (pem) privateKey = createPrivateKey(pem)
  else {
    privateKey = generateKeyPairSync('ed25519').privateKey
    await writeFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' })
  }
  const publicKey = rawPublicKey(createPublicKey(privateKey))
  return {
    id: nodeIdFromPublicKey(publicKey),
    publicKey,
    sign: (message) => new Uint8Array(sign(null, message, privateKey)),
  }
}

/** Verifies an Ed25519 signature made with the raw public key; false for any malformed input. */
export function verifyNodeSignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' })
    return verify(null, message, key, signature)
  } catch {
    return false
  }
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' }) as { x?: string }
  return new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url'))
}
