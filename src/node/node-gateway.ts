import {
  answerIdentityChallenge,
  authorizeShare,
  GATEWAY_IDENTITY_PATH,
  isIdentityNonce,
  type NodeIdentity,
  verifyPeerToken,
} from '../cluster/index.ts'
import type { BlockSource } from '../core/index.ts'
import { createGatewayHandler, type GatewayHandler } from '../transfer/index.ts'

export interface NodeGatewayOptions {
  /** The node's repo blocks. */
  source: BlockSource
  /** The node's identity: answers the coordinator's gateway challenge; peer tokens must name it as their audience. */
  identity: NodeIdentity
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
 * `Authorization: Bearer <peer token>` signed by the coordinator's key for this node's id
 * (a token meant for another node or the coordinator is refused), or a `?share=` link the
 * coordinator signed for that CID and path, else 401/403. The identity probe `bafkqaaa` is
 * subject to the same rule. `GET /.well-known/pinfold/identity?nonce=` answers the
 * coordinator's challenge (see gateway-identity.ts) whatever the access mode.
 */
export function createNodeGateway(options: NodeGatewayOptions): GatewayHandler {
  const gateway = options.access === 'public' ? createGatewayHandler({ source: options.source }) : peerGateway(options)
  return async (request) => {
    const url = new URL(request.url)
    return url.pathname === GATEWAY_IDENTITY_PATH ? identityResponse(options.identity, url.searchParams.get('nonce')) : gateway(request)
  }
}

function peerGateway(options: NodeGatewayOptions): GatewayHandler {
  const audience = options.identity.id
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
      const subject = key === undefined || match?.[1] === undefined ? undefined : await verifyPeerToken(key, match[1], audience)
      if (subject === undefined || options.isRevoked?.(subject) === true) {
        return jsonError(401, 'ERR_UNAUTHORIZED', 'a valid peer token for this node is required', { 'WWW-Authenticate': 'Bearer realm="pinfold-peer"' })
      }
      return undefined
    },
  })
}

function identityResponse(identity: NodeIdentity, nonce: string | null): Response {
  if (nonce === null || !isIdentityNonce(nonce)) return jsonError(400, 'ERR_INVALID_ARGUMENT', 'nonce must be 16–64 random bytes, base64url')
  return new Response(JSON.stringify(answerIdentityChallenge(identity, nonce)), {
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' },
  })
}

function jsonError(status: number, code: string, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers },
  })
}
