import type { FastifyInstance } from 'fastify'
import type { Authenticator } from '../auth/authenticator.ts'
import type { UsageMeter } from './usage-meter.ts'

/**
 * Counts every request made with a valid access token against its account (an `onResponse`
 * hook, so refused and failed requests count too). The token was already verified for the
 * request (rate limiting, the route itself) and the verification is cached per request, so
 * this costs neither a signature check nor a database access.
 */
export function installRequestCounting(app: FastifyInstance, authenticate: Authenticator, meter: UsageMeter): void {
  app.addHook('onResponse', async (request) => {
    if (request.headers.authorization === undefined) return
    const principal = await authenticate.principal(request).catch(() => undefined)
    if (principal) meter.countRequest(principal.accountId)
  })
}
