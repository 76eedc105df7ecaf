import type { FastifyRequest } from 'fastify'
import type { Principal, Scope } from './principal.ts'
import { requireScope, UnauthorizedError } from './principal.ts'
import type { TokenService } from './token-service.ts'

/**
 * Resolves the caller of a request from its `Authorization: Bearer` token, verifying it
 * once per request, and checks the scope a route needs. Routes call it explicitly, so an
 * unauthenticated route is visible in its own code.
 */
export interface Authenticator {
  (request: FastifyRequest, scope: Scope): Promise<Principal>
  /** The verified caller without a scope check (rejects when there is no valid token). */
  principal(request: FastifyRequest): Promise<Principal>
}

export function createAuthenticator(tokens: TokenService): Authenticator {
  const verified = new WeakMap<FastifyRequest, Promise<Principal>>()
  const principal = (request: FastifyRequest): Promise<Principal> => {
    let pending = verified.get(request)
    if (!pending) {
      pending = Promise.resolve().then(() => tokens.verify(bearerToken(request)))
      verified.set(request, pending)
    }
    return pending
  }
  const authenticate = async (request: FastifyRequest, scope: Scope) => {
    const caller = await principal(request)
    requireScope(caller, scope)
    return caller
  }
  return Object.assign(authenticate, { principal })
}

function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null
  if (!match?.[1]) throw new UnauthorizedError()
  return match[1]
}
