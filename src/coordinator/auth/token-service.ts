import { randomBytes } from 'node:crypto'
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import { type Principal, type Scope, UnauthorizedError } from './principal.ts'
import type { RevocationCheck } from './revocation-check.ts'

const ISSUER = 'pinfold'
const AUDIENCE = 'pinfold-api'
const SCOPES: readonly Scope[] = ['read', 'write', 'admin']

export interface IssuedToken {
  accessToken: string
  expiresAt: Date
}

/**
 * Mints and verifies short-lived signed access tokens (JWT, HS256). The signature is
 * checked once per token (then cached); every verification then asks the revocation
 * check, which answers from a cache a few seconds old — so a revoked key, a disabled,
 * demoted or re-passworded account and a sign-out stop live tokens within seconds.
 */
export interface TokenService {
  issue(principal: Principal, options?: { ttlSeconds?: number }): Promise<IssuedToken>
  /** Rejects with ERR_TOKEN_EXPIRED or ERR_UNAUTHORIZED. */
  verify(token: string): Promise<Principal>
}

export function createTokenService(init: {
  secret: string
  ttlSeconds: number
  /** Without one (unit tests) a token is honoured until it expires. */
  revocations?: Pick<RevocationCheck, 'assertLive'>
  clock?: () => number
}): TokenService {
  const verified = new Map<string, { principal: Principal; expiresAt: number }>()
  // imported once: given raw bytes, jose imports a CryptoKey on every call (~3× the CPU of a verify)
  const key = crypto.subtle.importKey('raw', new TextEncoder().encode(init.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
  const clock = init.clock ?? Date.now
  return {
    async issue(principal, options) {
      const ttl = options?.ttlSeconds ?? init.ttlSeconds
      const issuedAtMs = clock()
      const issuedAt = Math.floor(issuedAtMs / 1000)
      const expiresAt = issuedAt + ttl
      // iat is whole seconds; revocation compares milliseconds, so a token issued just
      // after a password change is not mistaken for one from before it
      const claims = { role: principal.role, scopes: [...principal.scopes], kid: principal.keyId, iat_ms: issuedAtMs }
      const accessToken = await new SignJWT(claims)
        .setJti(randomBytes(16).toString('base64url'))
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
      const principal = await verifiedSignature(token)
      await init.revocations?.assertLive(principal)
      return principal
    },
  }

  async function verifiedSignature(token: string): Promise<Principal> {
    const cached = verified.get(token)
    if (cached !== undefined && cached.expiresAt > clock()) return cached.principal
    const fresh = await verifySignature(token)
    // bounded: the oldest entry makes room (Map keeps insertion order)
    if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value as string)
    verified.set(token, fresh)
    return fresh.principal
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
      const expiresAt = (payload.exp ?? 0) * 1000
      const issuedAt = typeof payload.iat_ms === 'number' ? payload.iat_ms : (payload.iat ?? 0) * 1000
      const principal = {
        accountId: payload.sub,
        role,
        scopes: new Set(scopes),
        keyId: typeof payload.kid === 'string' ? payload.kid : undefined,
        token: { id: payload.jti, issuedAt, expiresAt },
      } satisfies Principal
      return { principal, expiresAt }
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
