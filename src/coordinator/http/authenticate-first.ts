import type { FastifyInstance, FastifySchema } from 'fastify'
import type { Authenticator } from '../auth/authenticator.ts'

/** The parts of a route schema Fastify validates (and would answer 400 for). */
const VALIDATED_PARTS = ['body', 'querystring', 'params', 'headers'] as const

/**
 * Authenticates before anything about a request is parsed or validated: a caller without a
 * valid token gets 401 from every authenticated route, never a 400 that describes the
 * route's parameters. Applies to routes with a validation schema, except those whose
 * OpenAPI `security` is `[]` (the documented unauthenticated ones, such as the token
 * exchange). Runs after the rate limiter (registered first), so unauthenticated floods are
 * still throttled. The verified caller is cached per request, so the handler's own
 * `authenticate(request, scope)` costs nothing more.
 */
export function installAuthenticateFirst(app: FastifyInstance, authenticate: Authenticator): void {
  app.addHook('onRequest', async (request) => {
    const schema = request.routeOptions.schema as (FastifySchema & { security?: unknown[] }) | undefined
    if (schema === undefined || !VALIDATED_PARTS.some((part) => schema[part] !== undefined)) return
    if (Array.isArray(schema.security) && schema.security.length === 0) return
    await authenticate.principal(request)
  })
}
