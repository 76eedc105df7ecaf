import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import { PinfoldError } from '../../../core/index.ts'
import { normalizeEmail } from '../../../registry/index.ts'
import type { Principal } from '../../auth/principal.ts'
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

/**
 * `POST /api/v1/auth/token`: an API key, or email and password, for a short-lived access
 * token. Failed attempts are answered only after a pause, the route has a tight rate limit
 * per address, and wrong passwords are limited per account from all addresses together.
 */
export function authRoutes(
  app: FastifyInstance,
  { registry, tokens, config, revocations, authenticate, passwordGuesses }: CoordinatorComponents,
): void {
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
    async (request) => {
      const body = request.body as { apiKey?: string; email?: string; password?: string; expiresIn?: number }
      const principal = await principalFor(body)
      if (!principal) {
        await sleep(config.auth.failedLoginDelayMs)
        throw new InvalidCredentialsError()
      }
      const ttlSeconds = Math.min(body.expiresIn ?? config.auth.tokenTtlSeconds, config.auth.tokenTtlSeconds)
      const issued = await tokens.issue(principal, { ttlSeconds })
      return {
        accessToken: issued.accessToken,
        tokenType: 'Bearer' as const,
        expiresAt: issued.expiresAt.toISOString(),
        expiresIn: ttlSeconds,
      }
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
    const scopes = account.role === 'admin' ? (['read', 'write', 'admin'] as const) : (['read', 'write'] as const)
    return { accountId: account.id, role: account.role, scopes: new Set(scopes) }
  }
}
