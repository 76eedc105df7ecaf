import { verifyPeerToken } from '../cluster/index.ts'
import type { BlockSource } from '../core/index.ts'
import { createGatewayHandler, type GatewayHandler } from '../transfer/index.ts'

export interface NodeGatewayOptions {
  /** The node's repo blocks. */
  source: BlockSource
  /** The coordinator's Ed25519 key learned at welcome; until then every request is refused. */
  coordinatorKey(): Uint8Array | undefined
}

/**
 * The node's `/ipfs/` gateway (trustless + path gateway over its repo) for cluster peers
 * only: every request must carry `Authorization: Bearer <peer token>` signed by the
 * coordinator's key, else 401. The identity probe `bafkqaaa` is subject to the same rule.
 */
export function createNodeGateway(options: NodeGatewayOptions): GatewayHandler {
  return createGatewayHandler({
    source: options.source,
    async authorize(request) {
      const key = options.coordinatorKey()
      const header = request.headers.get('authorization') ?? ''
      const match = /^Bearer\s+(\S+)$/i.exec(header)
      if (key === undefined || match?.[1] === undefined || (await verifyPeerToken(key, match[1])) === undefined) {
        return new Response(JSON.stringify({ error: { code: 'ERR_UNAUTHORIZED', message: 'a valid peer token is required' } }), {
          status: 401,
          headers: { 'Content-Type': 'application/json; charset=utf-8', 'WWW-Authenticate': 'Bearer realm="pinfold-peer"' },
        })
      }
      return undefined
    },
  })
}
