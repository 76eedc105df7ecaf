import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'

/**
 * Closes the HTTP edge with a bounded drain: no new connections from the first moment,
 * idle kept-alive ones closed, new requests on busy ones answered 503 + `Connection:
 * close` (Fastify's `return503OnClosing`), requests in flight given `drainMs` to finish;
 * then every remaining connection is cut, so a slow upload body cannot hold the process
 * (its request fails and is not acknowledged). Resolves once the server is closed.
 */
export async function closeAppWithDrain(app: FastifyInstance, drainMs: number, logger: Logger): Promise<void> {
  const cut = setTimeout(() => {
    logger.warn({ drainMs }, 'drain time over: closing the connections still open')
    app.server.closeAllConnections()
  }, drainMs)
  try {
    await app.close()
  } finally {
    clearTimeout(cut)
  }
}
