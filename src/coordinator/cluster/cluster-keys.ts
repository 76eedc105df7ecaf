import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export const CLUSTER_SECRET_FILE = 'cluster-secret'
export const COORDINATOR_KEY_FILE = 'coordinator-key.pem'

/**
 * The cluster secret: the configured one, else the one stored in `<dataDir>/cluster-secret`,
 * else a new random one written there (0600). `generated` is true only on the start that
 * created it, so it can be shown once (like the first admin's credentials).
 */
export async function resolveClusterSecret(
  configured: string | undefined,
  dataDir: string,
): Promise<{ secret: string; generated: boolean }> {
  if (configured) return { secret: configured, generated: false }
  const file = join(dataDir, CLUSTER_SECRET_FILE)
  const existing = (await readFile(file, 'utf8').catch(() => undefined))?.trim()
  if (existing && existing.length >= 16) return { secret: existing, generated: false }
  const secret = randomBytes(24).toString('base64url')
  await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'w' })
  return { secret, generated: true }
}

export interface CoordinatorKey {
  privateKey: KeyObject
  /** Raw 32-byte Ed25519 public key, as sent in `welcome.coordinatorKey`. */
  publicKey: Uint8Array
}

/** The coordinator's Ed25519 key (signs peer tokens), `<dataDir>/coordinator-key.pem`, created (0600) on first start. */
export async function loadOrCreateCoordinatorKey(dataDir: string): Promise<CoordinatorKey> {
  const file = join(dataDir, COORDINATOR_KEY_FILE)
  const pem = await readFile(file, 'utf8').catch(() => undefined)
  let privateKey: KeyObject
  if (pem) privateKey = createPrivateKey(pem)
  else {
    privateKey = generateKeyPairSync('ed25519').privateKey
    await writeFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' }).catch(
      async (error: { code?: string }) => {
        // another replica sharing the data directory won the race: use its key
        if (error.code !== 'EEXIST') throw error
        privateKey = createPrivateKey(await readFile(file, 'utf8'))
      },
    )
  }
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as { x?: string }
  return { privateKey, publicKey: new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url')) }
}
