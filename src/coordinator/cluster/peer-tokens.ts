import type { KeyObject } from 'node:crypto'
import { issuePeerToken } from '../../cluster/index.ts'

type Issued = { token: string; expiresAt: number }

/**
 * Per-audience peer tokens for `sources` answers: one token per (requesting node, source)
 * pair, reused while more than half of its lifetime is left, so a `locate` of 1,000 CIDs
 * over the same few sources signs a few tokens, not thousands. Entries of pairs no longer
 * asked for expire with their tokens (swept on each issue).
 */
export class PeerTokens {
  readonly #key: KeyObject
  readonly #ttlSeconds: number
  readonly #cache = new Map<string, Issued>()

  constructor(key: KeyObject, ttlSeconds: number) {
    this.#key = key
    this.#ttlSeconds = ttlSeconds
  }

  /** A token `subject` may present to `audience` (a node id or COORDINATOR_AUDIENCE). */
  async issue(subject: string, audience: string): Promise<Issued> {
    const now = Date.now()
    const cacheKey = `${subject}\n${audience}`
    const cached = this.#cache.get(cacheKey)
    if (cached !== undefined && cached.expiresAt - now > (this.#ttlSeconds * 1000) / 2) return cached
    for (const [key, entry] of this.#cache) if (entry.expiresAt <= now) this.#cache.delete(key)
    const issued = await issuePeerToken(this.#key, subject, audience, this.#ttlSeconds)
    this.#cache.set(cacheKey, issued)
    return issued
  }
}
