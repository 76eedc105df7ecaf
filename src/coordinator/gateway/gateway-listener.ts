import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { GatewayOrigin } from './gateway-origin.ts'

/** A running gateway listener. */
export interface GatewayListener {
  /** e.g. http://127.0.0.1:8081 */
  url: string
  close(): Promise<void>
}

const NOT_HERE = JSON.stringify({ error: { code: 'ERR_NOT_FOUND', message: 'this is the content gateway: only /ipfs/ is served here' } })

/**
 * `gateway.listen`: a second listener, its own origin, that serves only `/ipfs/` (and
 * subdomain gateway hosts) through the same app, so rate limits, metrics and access rules
 * are the ones of the main listener. Nothing else is reachable here: the portal and the API
 * on this origin would hand user content the session it must never see.
 */
export async function listenGateway(app: FastifyInstance, origin: GatewayOrigin, listen: string): Promise<GatewayListener> {
  const server: Server = createServer({ maxHeaderSize: 16 * 1024 }, (request, response) => {
    origin.markGatewayListener(request)
    const isContent = origin.subdomainLabel(request.headers.host) !== undefined || /^\/ipfs\//.test(request.url ?? '')
    if (!isContent) {
      response.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'x-content-type-options': 'nosniff' }).end(NOT_HERE)
      return
    }
    app.routing(request, response)
  })
  const at = listen.lastIndexOf(':')
  const host = listen.slice(0, at)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(Number(listen.slice(at + 1)), host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
