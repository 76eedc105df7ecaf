import { randomBytes } from 'node:crypto'
import type { Registry } from '../registry/index.ts'

export interface AdminCredentials {
  email: string
  password: string
  apiKey: string
}

/**
 * On the first start (no admin yet) creates the admin account with a random password and
 * one API key, and returns them so they can be shown once; afterwards returns undefined.
 * Idempotent across restarts; two coordinators starting together on one database may both
 * try, and the loser's unique-email conflict is treated as "already bootstrapped".
 */
export async function bootstrapAdmin(registry: Registry, email: string): Promise<AdminCredentials | undefined> {
  if (await registry.accounts.hasAdmin()) return undefined
  const password = randomBytes(18).toString('base64url')
  try {
    const account = await registry.accounts.create({ email, password, role: 'admin' })
    const { secret } = await registry.apiKeys.create(account.id, {
      description: 'created at first start',
      scopes: ['read', 'write', 'admin'],
      expiresAt: null,
    })
    return { email, password, apiKey: secret }
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_CONFLICT') return undefined
    throw error
  }
}
