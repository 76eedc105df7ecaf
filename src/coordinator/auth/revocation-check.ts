import type { Logger } from 'pino'
import type { TokenRevocations, TokenState } from '../../registry/index.ts'
import { type Principal, UnauthorizedError } from './principal.ts'

/**
 * Whether a verified access token is still honoured: its account exists, is enabled and
 * has the token's role, the token was issued after the account's "tokens valid after"
 * time, its API key is not revoked and it was not signed out. Answers from a per-key (or
 * per-account, for password tokens) cache at most `cacheSeconds` old, so revocation on any
 * replica takes effect everywhere within that time while a request costs a map lookup.
 * Concurrent checks of one key share one registry read. A failed read is not cached and
 * fails the request (closed, not open).
 */
export interface RevocationCheck {
  /** Rejects with ERR_UNAUTHORIZED when the token is no longer honoured. */
  assertLive(principal: Principal): Promise<void>
  /** Signs out the token the principal came with (no-op for tokens without an id). */
  signOut(principal: Principal): Promise<void>
  /** Ends every token of the account issued until now. */
  signOutEverywhere(accountId: string): Promise<void>
  /** Drops this replica's cached state of an account after changing it here: applies at once. */
  forget(accountId: string): void
}

interface Cached {
  accountId: string
  state: Promise<TokenState>
  fetchedAt: number
}

/** Bounds the cache: the oldest entry makes room (Map keeps insertion order). */
const CACHE_SIZE = 10_000

export function createRevocationCheck(init: {
  revocations: Pick<TokenRevocations, 'state' | 'revokeToken' | 'revokeAll'>
  cacheSeconds: number
  logger?: Logger
  clock?: () => number
}): RevocationCheck {
  const { revocations } = init
  const clock = init.clock ?? Date.now
  const maxAgeMs = init.cacheSeconds * 1000
  const cache = new Map<string, Cached>()

  function stateOf(principal: Principal): Promise<TokenState> {
    const cacheKey = `${principal.accountId}\0${principal.keyId ?? ''}`
    const at = clock()
    const hit = cache.get(cacheKey)
    if (hit !== undefined && at - hit.fetchedAt < maxAgeMs) return hit.state
    const state = revocations.state(principal.accountId, principal.keyId, at)
    if (maxAgeMs > 0) {
      cache.delete(cacheKey)
      if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string)
      const entry = { accountId: principal.accountId, state, fetchedAt: at }
      cache.set(cacheKey, entry)
      state.catch(() => {
        if (cache.get(cacheKey) === entry) cache.delete(cacheKey)
      })
    }
    return state
  }

  return {
    async assertLive(principal) {
      const reason = refusal(principal, await stateOf(principal))
      if (reason === undefined) return
      init.logger?.debug({ accountId: principal.accountId, keyId: principal.keyId, reason }, 'revoked token refused')
      throw new UnauthorizedError('access token revoked: sign in again')
    },
    async signOut(principal) {
      if (principal.token?.id === undefined) return
      await revocations.revokeToken(principal.accountId, principal.token.id, principal.token.expiresAt)
      this.forget(principal.accountId)
    },
    async signOutEverywhere(accountId) {
      await revocations.revokeAll(accountId)
      this.forget(accountId)
    },
    forget(accountId) {
      for (const [cacheKey, entry] of cache) if (entry.accountId === accountId) cache.delete(cacheKey)
    },
  }
}

function refusal(principal: Principal, state: TokenState): string | undefined {
  const { account } = state
  if (account === undefined) return 'account gone'
  if (account.disabled) return 'account disabled'
  if (account.role !== principal.role) return 'role changed'
  if (principal.token !== undefined && principal.token.issuedAt <= account.tokensValidAfter) return 'issued before the account’s last revocation'
  if (state.keyRevoked) return 'key revoked'
  if (principal.token?.id !== undefined && state.revokedTokenIds.has(principal.token.id)) return 'signed out'
  return undefined
}
