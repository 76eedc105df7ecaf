import type { IncomingMessage } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { PinfoldError } from '../../core/index.ts'
import { createBodyDeadlines } from './body-deadlines.ts'
import { createConnectionCap } from './connection-cap.ts'

export interface RequestBoundsOptions {
  /** `limits.bodyTimeoutSeconds` (0 = off): headers, ordinary bodies, and upload-body idle time. */
  bodyTimeoutSeconds: number
  /** `limits.maxConnectionsPerAddress` (0 = unlimited). */
  maxConnectionsPerAddress: number
  /** Routes whose bodies are uploads (long, streamed). */
  isUploadBody(req: IncomingMessage): boolean
}

export class TooManyConnectionsError extends PinfoldError {
  constructor(max: number) {
    super('ERR_TOO_MANY_CONNECTIONS', `more than ${max} open connections from this address; reuse or close some`, { userError: true })
  }
}

/**
 * Bounds what one client can hold open on the coordinator's server: headers must arrive
 * within the body timeout (Node's `headersTimeout`), bodies are cut by {@link createBodyDeadlines},
 * and connections per address are capped by {@link createConnectionCap}. Registered before
 * any other hook so a refused request does no other work.
 */
export function installRequestBounds(app: FastifyInstance, options: RequestBoundsOptions): void {
  const timeoutMs = options.bodyTimeoutSeconds * 1000
  if (timeoutMs > 0) app.server.headersTimeout = timeoutMs
  const cap = createConnectionCap(app.server, options.maxConnectionsPerAddress)
  const deadlines = createBodyDeadlines({ timeoutMs, isUploadBody: options.isUploadBody })
  app.addHook('onRequest', async (request, reply) => {
    if (cap.isOver(request.raw.socket)) {
      reply.header('connection', 'close')
      throw new TooManyConnectionsError(options.maxConnectionsPerAddress)
    }
    deadlines.watch(request.raw, reply.raw)
  })
  app.addHook('onClose', async () => deadlines.close())
}
