import { createCipheriv, createDecipheriv, hkdfSync, type KeyObject, randomBytes } from 'node:crypto'

/**
 * Seals the root CID of a path-scoped share link into its token: AES-256-GCM under a key
 * derived from the coordinator's private key, so readers of the link (who can decode a
 * JWT's payload) learn nothing above the shared path, while the coordinator can still check
 * that the sharing account holds the root (links die with the account's last reference).
 */
export function sealShareRoot(coordinatorKey: KeyObject, root: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', sealingKey(coordinatorKey), iv)
  const sealed = Buffer.concat([cipher.update(root, 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url')
}

/** The root sealed by {@link sealShareRoot}; undefined when altered or sealed by another key. */
export function openShareRoot(coordinatorKey: KeyObject, sealed: string): string | undefined {
  const bytes = Buffer.from(sealed, 'base64url')
  if (bytes.byteLength < 29) return undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(coordinatorKey), bytes.subarray(0, 12))
    decipher.setAuthTag(bytes.subarray(12, 28))
    return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8')
  } catch {
    return undefined
  }
}

function sealingKey(coordinatorKey: KeyObject): Buffer {
  const secret = coordinatorKey.export({ format: 'der', type: 'pkcs8' })
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'pinfold share-link root', 32))
}
