import type { Role } from './accounts.ts'
import { now, type RegistryContext } from './db.ts'

/** What decides whether a signed, unexpired access token is still honoured. */
export interface TokenState {
  /** Undefined when the account no longer exists. */
  account?: { disabled: boolean; role: Role; tokensValidAfter: number }
  /** True when the token's API key is revoked, expired or gone; false for tokens without a key. */
  keyRevoked: boolean
  /** Ids of the account's signed-out tokens that have not expired yet. */
  revokedTokenIds: ReadonlySet<string>
}

/**
 * Revocation of live access tokens, shared by every coordinator replica through the
 * registry. Tokens are checked against it on every request (through a short cache), so
 * every method here takes effect on all replicas within that cache's lifetime.
 * All methods are idempotent and safe to call concurrently.
 */
export class TokenRevocations {
  readonly #ctx: RegistryContext

  constructor(ctx: RegistryContext) {
    this.#ctx = ctx
  }

  /** Three indexed reads: the account row, the key row, the account's unexpired sign-outs. */
  async state(accountId: string, keyId: string | undefined, at: number = now()): Promise<TokenState> {
    const db = this.#ctx.db
    const [account, key, revoked] = await Promise.all([
      db.selectFrom('accounts').select(['disabled', 'role', 'tokens_valid_after']).where('id', '=', accountId).executeTakeFirst(),
      keyId === undefined
        ? undefined
        : db.selectFrom('api_keys').select(['revoked_at', 'expires_at']).where('id', '=', keyId).where('account_id', '=', accountId).executeTakeFirst(),
      db.selectFrom('revoked_tokens').select('token_id').where('account_id', '=', accountId).where('expires_at', '>', at).execute(),
    ])
    return {
      account: account && {
        disabled: Number(account.disabled) !== 0,
        role: account.role as Role,
        tokensValidAfter: Number(account.tokens_valid_after),
      },
      // a token minted just before its key expired does not outlive the key
      keyRevoked: keyId !== undefined && (key === undefined || key.revoked_at !== null || (key.expires_at !== null && Number(key.expires_at) <= at)),
      revokedTokenIds: new Set(revoked.map((row) => row.token_id)),
    }
  }

  /** Signs out one token until `expiresAt` (ms), and drops the account's expired sign-outs. */
  async revokeToken(accountId: string, tokenId: string, expiresAt: number): Promise<void> {
    await this.#ctx.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('revoked_tokens').where('account_id', '=', accountId).where('expires_at', '<=', now()).execute()
      await trx
        .insertInto('revoked_tokens')
        .values({ token_id: tokenId, account_id: accountId, expires_at: expiresAt })
        .onConflict((oc) => oc.column('token_id').doNothing())
        .execute()
    })
  }

  /** Ends every token of the account issued until now (sign out everywhere). False if no such account. */
  async revokeAll(accountId: string): Promise<boolean> {
    const r = await this.#ctx.db.updateTable('accounts').set({ tokens_valid_after: now() }).where('id', '=', accountId).executeTakeFirst()
    return Number(r.numUpdatedRows) > 0
  }
}
