import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import { PinfoldError } from '../../../core/index.ts'
import { normalizeEmail, type Role } from '../../../registry/index.ts'
import { type Principal, UnauthorizedError } from '../../auth/principal.ts'
import { clearSessionCookie, sessionCookie, setSessionCookie } from '../../auth/session-cookie.ts'
import type { CoordinatorComponents } from '../../components.ts'
import { ErrorResponse } from '../schemas.ts'

const TokenRequest = Type.Union([
  Type.Object(
    { apiKey: Type.String({ minLength: 1, maxLength: 200 }), expiresIn: Type.Optional(Type.Integer({ minimum: 30 })) },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      email: Type.String({ minLength: 3, maxLength: 320 }),
      password: Type.String({ minLength: 1, maxLength: 1024 }),
      expiresIn: Type.Optional(Type.Integer({ minimum: 30 })),
      session: Type.Optional(
        Type.Boolean({ description: 'also start a browser session: an HttpOnly refresh cookie that POST /auth/refresh trades for new access tokens' }),
      ),
    },
    { additionalProperties: false },
  ),
])

const TokenResponse = Type.Object({
  accessToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresAt: Type.String({ format: 'date-time' }),
  expiresIn: Type.Integer(),
})

class InvalidCredentialsError extends PinfoldError {
  constructor() {
    super('ERR_INVALID_CREDENTIALS', 'invalid credentials', { userError: true })
  }
}

/** Two tabs of one browser renewing at once both succeed; a replay after this ends the session. */
const ROTATION_GRACE_MS = 30_000

/**
 * `POST /api/v1/auth/token`: an API key, or email and password, for a short-lived access
 * token. Failed attempts are answered only after a pause, the route has a tight rate limit
 * per address, and wrong passwords are limited per account from all addresses together.
 * With `session: true` a password sign-in also starts a browser session (refresh cookie);
 * `POST /api/v1/auth/refresh` renews it, `POST /api/v1/auth/sign-out` ends it.
 */
export function authRoutes(
  app: FastifyInstance,
  { registry, tokens, config, revocations, authenticate, passwordGuesses }: CoordinatorComponents,
): void {
  const sessionTtlMs = config.auth.sessionTtlDays * 86_400_000
  app.post(
    '/api/v1/auth/token',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange an API key or email+password for an access token',
        security: [],
        body: TokenRequest,
        response: { 200: TokenResponse, 401: ErrorResponse },
      },
      config: { rateLimit: { max: config.auth.loginAttemptsPerMinute, timeWindow: 60_000, keyGenerator: (request) => `login:${request.ip}` } },
    },
    async (request, reply) => {
      const body = request.body as { apiKey?: string; email?: string; password?: string; expiresIn?: number; session?: boolean }
      const principal = await principalFor(body)
      if (!principal) {
        await sleep(config.auth.failedLoginDelayMs)
        throw new InvalidCredentialsError()
      }
      if (body.session === true && principal.keyId === undefined) {
        const started = await registry.sessions.start(principal.accountId, sessionTtlMs)
        setSessionCookie(request, reply, started.refreshToken, started.expiresAt)
      }
      return issue(principal, Math.min(body.expiresIn ?? config.auth.tokenTtlSeconds, config.auth.tokenTtlSeconds))
    },
  )

  app.post(
    '/api/v1/auth/refresh',
    {
      schema: {
        tags: ['auth'],
        summary: 'Renew a browser session: its refresh cookie (rotated) for a new access token',
        description: 'Sends no body; reads the HttpOnly pinfold_session cookie set by POST /auth/token with session: true.',
        security: [],
        response: { 200: TokenResponse, 401: ErrorResponse },
      },
    },
    async (request, reply) => {
      const presented = sessionCookie(request)
      const renewed = presented === undefined ? undefined : await registry.sessions.renew(presented, { ttlMs: sessionTtlMs, graceMs: ROTATION_GRACE_MS })
      if (renewed === undefined) {
        clearSessionCookie(request, reply)
        throw new UnauthorizedError('the session has ended: sign in again', 'ERR_SESSION_ENDED')
      }
      setSessionCookie(request, reply, renewed.refreshToken, renewed.expiresAt)
      return issue(passwordPrincipal(renewed.accountId, renewed.role), config.auth.tokenTtlSeconds)
    },
  )

  app.post(
    '/api/v1/auth/sign-out',
    {
      schema: {
        tags: ['auth'],
        summary: 'End the session of this access token (everywhere: every token of the account)',
        body: Type.Optional(Type.Object({ everywhere: Type.Optional(Type.Boolean({ default: false })) }, { additionalProperties: false })),
        response: { 204: Type.Null(), 401: ErrorResponse },
      },
    },
    async (request, reply) => {
      const principal = await authenticate.principal(request)
      const body = request.body as { everywhere?: boolean } | undefined
      if (body?.everywhere === true) await revocations.signOutEverywhere(principal.accountId)
      else await revocations.signOut(principal)
      const presented = sessionCookie(request)
      if (presented !== undefined) await registry.sessions.end(presented)
      clearSessionCookie(request, reply)
      return reply.code(204).send()
    },
  )

  async function principalFor(body: { apiKey?: string; email?: string; password?: string }): Promise<Principal | undefined> {
    if (body.apiKey !== undefined) {
      const found = await registry.apiKeys.authenticate(body.apiKey)
      if (!found || found.account.disabled) return undefined
      // a key never grants more than its account's role allows
      const scopes = found.key.scopes.filter((scope) => scope !== 'admin' || found.account.role === 'admin')
      return { accountId: found.account.id, role: found.account.role, scopes: new Set(scopes), keyId: found.key.id }
    }
    // counted per email whether or not an account has it, so the limit reveals nothing
    const guessKey = normalizeEmail(body.email ?? '')
    passwordGuesses.check(guessKey)
    const account = await registry.accounts.authenticatePassword(body.email ?? '', body.password ?? '')
    if (!account || account.disabled) {
      passwordGuesses.failed(guessKey)
      return undefined
    }
    passwordGuesses.succeeded(guessKey)
    return passwordPrincipal(account.id, account.role)
  }

  async function issue(principal: Principal, ttlSeconds: number) {
    const issued = await tokens.issue(principal, { ttlSeconds })
    return {
      accessToken: issued.accessToken,
      tokenType: 'Bearer' as const,
      expiresAt: issued.expiresAt.toISOString(),
      expiresIn: ttlSeconds,
    }
  }
}

/** A signed-in person (not a key): every scope their role allows. */
function passwordPrincipal(accountId: string, role: Role): Principal {
  const scopes = role === 'admin' ? (['read', 'write', 'admin'] as const) : (['read', 'write'] as const)
  return { accountId, role, scopes: new Set(scopes) }
}
