import { authorizeShare, verifyPeerToken } from '../cluster/index.ts'
import type { BlockSource } from '../core/index.ts'
import { createGatewayHandler, type GatewayHandler } from '../transfer/index.ts'

export interface NodeGatewayOptions {
  /** The node's repo blocks. */
  source: BlockSource
  /** The coordinator's Ed25519 key learned at welcome; until then every request is refused. */
  coordinatorKey(): Uint8Array | undefined
  /** Whether a peer token's subject was revoked (pushed by the coordinator); such tokens are refused. */
  isRevoked?(subject: string): boolean
  /** `peer` (default): cluster peers and share links only; `public`: anyone. */
  access?: 'peer' | 'public'
}

/**
 * The node's `/ipfs/` gateway (trustless + path gateway over its repo). With `access:
 * 'public'` anyone may read. Otherwise (`peer`, the default) every request must carry
 * `Authorization: Bearer <peer token>` signed by the coordinator's key, or a `?share=`
 * link the coordinator signed for that CID and path, else 401/403. The identity probe
 * `bafkqaaa` is subject to the same rule.
 */
export function createNodeGateway(options: NodeGatewayOptions): GatewayHandler {
  if (options.access === 'public') return createGatewayHandler({ source: options.source })
  return createGatewayHandler({
    source: options.source,
    async authorize(request, cid, segments) {
      const key = options.coordinatorKey()
      const share = new URL(request.url).searchParams.get('share')
      if (key !== undefined && share !== null) {
        // the coordinator also checks the account still holds the CID; a node cannot, so a
        // link here lives until it expires (nodes drop content the cluster released)
        const decision = await authorizeShare(key, share, cid.toV1().toString(), segments)
        return decision.ok ? undefined : jsonError(decision.status, decision.code, decision.message)
      }
      const header = request.headers.get('authorization') ?? ''
      const match = /^Bearer\s+(\S+)$/i.exec(header)
      const subject = key === undefined || match?.[1] === undefined ? undefined : await verifyPeerToken(key, match[1])
      if (subject === undefined || options.isRevoked?.(subject) === true) {
        return jsonError(401, 'ERR_UNAUTHORIZED', 'a valid peer token is required', { 'WWW-Authenticate': 'Bearer realm="pinfold-peer"' })
      }
      return undefined
    },
  })
}

function jsonError(status: number, code: string, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers },
  })
}
