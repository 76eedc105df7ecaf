import { randomBytes } from 'node:crypto'
import type { Role } from './accounts.ts'
import { hashApiKeySecret } from './api-keys.ts'
import { newId, now, type RegistryContext } from './db.ts'

export const REFRESH_TOKEN_PREFIX = 'pfr_'

/** A renewed session: who it belongs to and the refresh token that replaces the one presented. */
export interface RenewedSession {
  accountId: string
  role: Role
  refreshToken: string
  expiresAt: number
}

/**
 * Portal sessions: long-lived refresh tokens (`pfr_…`, 256 random bits, stored as SHA-256)
 * that a browser trades for short-lived access tokens. Each renewal rotates the token and
 * slides the expiry. A session is honoured only while its account exists, is enabled and
 * has not revoked its tokens since the session began (`tokens_valid_after`: sign-out
 * everywhere, password or role change, disable), checked in the same query that rotates,
 * so a revocation on any replica ends every session at once.
 *
 * Rotation is atomic per token (a conditional update). The token just replaced stays
 * usable for `graceMs` (two tabs renewing at once); presented later it is taken as a stolen
 * copy and ends the session. All methods are safe to call concurrently.
 */
export class Sessions {
  readonly #ctx: RegistryContext

  constructor(ctx: RegistryContext) {
    this.#ctx = ctx
  }

  /** Starts a session for the account; returns its first refresh token. */
  async start(accountId: string, ttlMs: number): Promise<{ refreshToken: string; expiresAt: number }> {
    const at = now()
    const refreshToken = newRefreshToken()
    const expiresAt = at + ttlMs
    await this.#ctx.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('sessions').where('account_id', '=', accountId).where('expires_at', '<=', at).execute()
      await trx
        .insertInto('sessions')
        .values({
          id: newId(),
          account_id: accountId,
          token_hash: hashApiKeySecret(refreshToken),
          previous_hash: null,
          created_at: at,
          rotated_at: at,
          expires_at: expiresAt,
        })
        .execute()
    })
    return { refreshToken, expiresAt }
  }

  /** Trades a refresh token for a new one; undefined when the session is gone, expired or revoked. */
  async renew(refreshToken: string, options: { ttlMs: number; graceMs: number }): Promise<RenewedSession | undefined> {
    if (!refreshToken.startsWith(REFRESH_TOKEN_PREFIX)) return undefined
    const hash = hashApiKeySecret(refreshToken)
    // two passes at most: a concurrent renewal of the same token makes it the previous one
    for (let attempt = 0; attempt < 2; attempt++) {
      const at = now()
      const row = await this.#ctx.db
        .selectFrom('sessions')
        .innerJoin('accounts', 'accounts.id', 'sessions.account_id')
        .select(['sessions.id', 'sessions.token_hash', 'sessions.previous_hash', 'sessions.created_at', 'sessions.rotated_at', 'sessions.expires_at'])
        .select(['accounts.id as account_id', 'accounts.role', 'accounts.disabled', 'accounts.tokens_valid_after'])
        .where((eb) => eb.or([eb('sessions.token_hash', '=', hash), eb('sessions.previous_hash', '=', hash)]))
        .executeTakeFirst()
      if (row === undefined) return undefined
      const revoked = Number(row.disabled) !== 0 || Number(row.created_at) <= Number(row.tokens_valid_after) || Number(row.expires_at) <= at
      const replayed = row.token_hash !== hash && Number(row.rotated_at) + options.graceMs < at
      if (revoked || replayed) {
        await this.#ctx.db.deleteFrom('sessions').where('id', '=', row.id).execute()
        return undefined
      }
      const next = newRefreshToken()
      const expiresAt = at + options.ttlMs
      const updated = await this.#ctx.db
        .updateTable('sessions')
        .set({ token_hash: hashApiKeySecret(next), previous_hash: row.token_hash, rotated_at: at, expires_at: expiresAt })
        .where('id', '=', row.id)
        .where('token_hash', '=', row.token_hash)
        .executeTakeFirst()
      if (Number(updated.numUpdatedRows) > 0) return { accountId: row.account_id, role: row.role as Role, refreshToken: next, expiresAt }
    }
    return undefined
  }

  /** Ends the session of a refresh token (current or just replaced). Idempotent. */
  async end(refreshToken: string): Promise<void> {
    const hash = hashApiKeySecret(refreshToken)
    await this.#ctx.db
      .deleteFrom('sessions')
      .where((eb) => eb.or([eb('token_hash', '=', hash), eb('previous_hash', '=', hash)]))
      .execute()
  }
}

function newRefreshToken(): string {
  return REFRESH_TOKEN_PREFIX + randomBytes(32).toString('base64url')
}
