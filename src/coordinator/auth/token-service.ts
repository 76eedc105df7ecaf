import { errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import { type Principal, type Scope, UnauthorizedError } from './principal.ts'

const ISSUER = 'pinfold'
const AUDIENCE = 'pinfold-api'
const SCOPES: readonly Scope[] = ['read', 'write', 'admin']

export interface IssuedToken {
  accessToken: string
  expiresAt: Date
}

/**
 * Mints and verifies short-lived signed access tokens (JWT, HS256). Verification needs
 * no database read — the point of tokens, as in dStor; revoking a key therefore stops
 * new tokens at once and existing ones within their lifetime.
 */
export interface TokenService {
  issue(principal: Principal, options?: { ttlSeconds?: number }): Promise<IssuedToken>
  /** Rejects with ERR_TOKEN_EXPIRED or ERR_UNAUTHORIZED. */
  verify(token: string): Promise<Principal>
}

export function createTokenService(init: { secret: string; ttlSeconds: number; clock?: () => number }): TokenService {
  const verified = new Map<string, { principal: Principal; expiresAt: number }>()
  // imported once: given raw bytes, jose imports a CryptoKey on every call (~3× the CPU of a verify)
  const key = crypto.subtle.importKey('raw', new TextEncoder().encode(init.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
  const clock = init.clock ?? Date.now
  return {
    async issue(principal, options) {
      const ttl = options?.ttlSeconds ?? init.ttlSeconds
      const issuedAt = Math.floor(clock() / 1000)
      const expiresAt = issuedAt + ttl
      const accessToken = await new SignJWT({ role: principal.role, scopes: [...principal.scopes], kid: principal.keyId })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(principal.accountId)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt(issuedAt)
        .setExpirationTime(expiresAt)
        .sign(await key)
      return { accessToken, expiresAt: new Date(expiresAt * 1000) }
    },
    async verify(token) {
      const cached = verified.get(token)
      if (cached !== undefined && cached.expiresAt > clock()) return cached.principal
      const fresh = await verifySignature(token)
      // bounded: the oldest entry makes room (Map keeps insertion order)
      if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value as string)
      verified.set(token, fresh)
      return fresh.principal
    },
  }

  async function verifySignature(token: string): Promise<{ principal: Principal; expiresAt: number }> {
    try {
      const { payload } = await jwtVerify(token, await key, {
        issuer: ISSUER,
        audience: AUDIENCE,
        algorithms: ['HS256'],
        // a token without an expiry would outlive every revocation: refused
        requiredClaims: ['exp'],
        currentDate: new Date(clock()),
      })
      const scopes = Array.isArray(payload.scopes) ? payload.scopes.filter((s): s is Scope => SCOPES.includes(s)) : []
      const role = payload.role === 'admin' ? 'admin' : 'user'
      if (typeof payload.sub !== 'string') throw new UnauthorizedError('access token has no subject')
      const principal = {
        accountId: payload.sub,
        role,
        scopes: new Set(scopes),
        keyId: typeof payload.kid === 'string' ? payload.kid : undefined,
      } satisfies Principal
      return { principal, expiresAt: (payload.exp ?? 0) * 1000 }
    } catch (error) {
      if (error instanceof UnauthorizedError) throw error
      if (error instanceof joseErrors.JWTExpired) throw new UnauthorizedError('access token expired', 'ERR_TOKEN_EXPIRED')
      throw new UnauthorizedError('invalid access token')
    }
  }
}

/**
 * Verified tokens kept per service: a client sends the same token with every request
 * until it expires, and checking its signature (WebCrypto, off the main thread) was most
 * of a cheap request's CPU. An entry never outlives the token's own expiry.
 */
const VERIFIED_CACHE_SIZE = 10_000
