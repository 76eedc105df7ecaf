import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * The HMAC secret for access tokens: the configured one, else the one stored in the data
 * directory, else a new random one written there (0600) so tokens survive restarts.
 */
export async function resolveTokenSecret(configured: string | undefined, dataDir: string): Promise<string> {
  if (configured) return configured
  const file = join(dataDir, 'token-secret')
  const existing = await readFile(file, 'utf8').catch(() => undefined)
  if (existing && existing.trim().length >= 32) return existing.trim()
  const secret = randomBytes(32).toString('base64url')
  await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'w' })
  return secret
}
