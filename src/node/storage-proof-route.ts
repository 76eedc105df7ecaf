import { CID } from 'multiformats/cid'
import { MAX_PROOF_BLOCKS, STORAGE_PROOF_PATH, storageProofDigest, verifyPeerToken } from '../cluster/index.ts'
import type { BlockSource } from '../core/index.ts'

export interface StorageProofRouteOptions {
  /** The node's repo blocks (every read is hashed against its CID by the repo). */
  source: BlockSource
  /** The coordinator's Ed25519 key learned at welcome; until then every challenge is refused. */
  coordinatorKey(): Uint8Array | undefined
  /** This node's id: the audience a coordinator token for this node names. */
  nodeId: string
}

/**
 * Wraps the node's gateway with the proof-of-storage route: `GET
 * /pinfold/v1/storage-proof?nonce=<hex>&cid=<cid>…` with the coordinator's own peer token
 * (subject `coordinator`; a peer node's token is refused) answers `{"digests": [hex |
 * null, …]}`, one `sha256(nonce ‖ block bytes)` per CID in order, null for a block this
 * node cannot read. Every other request goes to `gateway`. Read-only and idempotent.
 */
export function withStorageProofs(
  gateway: (request: Request) => Promise<Response>,
  options: StorageProofRouteOptions,
): (request: Request) => Promise<Response> {
  return async (request) => {
    const url = new URL(request.url)
    if (url.pathname !== STORAGE_PROOF_PATH) return gateway(request)
    if (request.method !== 'GET') return json(405, { error: { code: 'ERR_METHOD_NOT_ALLOWED', message: 'GET only' } })
    const key = options.coordinatorKey()
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.get('authorization') ?? '')
    const subject = key === undefined || match?.[1] === undefined ? undefined : await verifyPeerToken(key, match[1], options.nodeId)
    if (subject !== 'coordinator') return json(401, { error: { code: 'ERR_UNAUTHORIZED', message: "the coordinator's peer token is required" } })
    const nonce = url.searchParams.get('nonce') ?? ''
    const cids = url.searchParams.getAll('cid')
    if (!/^[0-9a-f]{32,128}$/.test(nonce) || cids.length === 0 || cids.length > MAX_PROOF_BLOCKS) {
      return json(400, { error: { code: 'ERR_INVALID_ARGUMENT', message: `nonce: 32–128 hex digits; cid: 1–${MAX_PROOF_BLOCKS}` } })
    }
    const nonceBytes = Buffer.from(nonce, 'hex')
    const digests = await Promise.all(cids.map((cid) => answer(options.source, nonceBytes, cid, request.signal)))
    return json(200, { digests })
  }
}

async function answer(source: BlockSource, nonce: Uint8Array, cid: string, signal: AbortSignal): Promise<string | null> {
  try {
    return storageProofDigest(nonce, await source.get(CID.parse(cid), { signal }))
  } catch {
    return null
  }
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' } })
}
