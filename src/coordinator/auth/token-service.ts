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
      try {
        const { payload } = await jwtVerify(token, await key, {
          issuer: ISSUER,
          audience: AUDIENCE,
          algorithms: ['HS256'],
          currentDate: new Date(clock()),
        })
        const scopes = Array.isArray(payload.scopes) ? payload.scopes.filter((s): s is Scope => SCOPES.includes(s)) : []
        const role = payload.role === 'admin' ? 'admin' : 'user'
        if (typeof payload.sub !== 'string') throw new UnauthorizedError('access token has no subject')
        return {
          accountId: payload.sub,
          role,
          scopes: new Set(scopes),
          keyId: typeof payload.kid === 'string' ? payload.kid : undefined,
        }
      } catch (error) {
        if (error instanceof UnauthorizedError) throw error
        if (error instanceof joseErrors.JWTExpired) throw new UnauthorizedError('access token expired', 'ERR_TOKEN_EXPIRED')
        throw new UnauthorizedError('invalid access token')
      }
    },
  }
}
