import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

/** scrypt cost parameters for new hashes (N=2^15, r=8, p=1: ~32 MiB, ~50–100 ms). */
export const SCRYPT_PARAMS = { N: 32768, r: 8, p: 1 } as const
const KEY_LENGTH = 32
const SALT_LENGTH = 16

function scryptAsync(password: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_LENGTH, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    )
  })
}

/** Hashes a password as `scrypt$N$r$p$salt$hash` (salt and hash base64url, per-password salt). */
export async function hashPassword(password: string, params: { N: number; r: number; p: number } = SCRYPT_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_LENGTH)
  const key = await scryptAsync(password, salt, params.N, params.r, params.p)
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`
}

/** Constant-time check of `password` against a stored `scrypt$…` hash; false for malformed hashes. */
export async function verifyPasswordHash(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const N = Number(parts[1])
  const r = Number(parts[2])
  const p = Number(parts[3])
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 2 ** 20 || r > 32 || p > 16) return false
  const salt = Buffer.from(parts[4] ?? '', 'base64url')
  const expected = Buffer.from(parts[5] ?? '', 'base64url')
  if (expected.length !== KEY_LENGTH) return false
  const actual = await scryptAsync(password, salt, N, r, p)
  return timingSafeEqual(actual, expected)
}

let dummyHash: Promise<string> | undefined
/** Spends the same time as a real verification, so unknown emails are not revealed by timing. */
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hashPassword('pinfold-dummy-password')
  await verifyPasswordHash(password, await dummyHash)
}
