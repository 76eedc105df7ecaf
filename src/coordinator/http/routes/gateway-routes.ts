import type { FastifyInstance } from 'fastify'
import type { CID } from 'multiformats/cid'
import { authorizeShare } from '../../../cluster/index.ts'
import { createGatewayHandler, toWebRequest, writeWebResponse } from '../../../transfer/index.ts'
import { parseCid } from '../../../core/index.ts'
import type { Principal } from '../../auth/principal.ts'
import type { CoordinatorComponents } from '../../components.ts'
import { openShareRoot } from '../../files/share-root.ts'

/**
 * `GET|HEAD /ipfs/{cid}[/{path}]` on the origin repository: the trustless and path
 * gateway. With `gateway.access = token` a reader needs a token, and sees only CIDs its
 * account references (admins see all) — another account's content is "not found". A
 * storage node's peer token (signed by the coordinator key, node not revoked) reads any CID.
 * A signed share link (`?share=`, from `POST /api/v1/share`) reads its one CID and path
 * prefix without a bearer token while it is unexpired and its account still holds the CID.
 */
export function gatewayRoutes(app: FastifyInstance, components: CoordinatorComponents): void {
  const { config, registry, repo, tokens, cluster } = components
  const handler = createGatewayHandler({
    source: repo.blocks,
    authorize: config.gateway.access === 'public' ? undefined : (request, cid, segments) => authorizeReader(request, cid, segments),
  })

  async function authorizeReader(request: Request, cid: CID, segments: readonly string[]): Promise<Response | undefined> {
    const share = new URL(request.url).searchParams.get('share')
    if (share !== null) return authorizeShareLink(share, cid, segments)
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.get('authorization') ?? '')
    let principal: Principal
    try {
      if (!match?.[1]) throw new Error('no token')
      principal = await tokens.verify(match[1])
    } catch {
      // storage nodes fetch uploads from the origin with their peer token (any CID)
      if (match?.[1] && (await cluster.verifyPeer(match[1])) !== undefined) return undefined
      return Response.json(
        { error: { code: 'ERR_UNAUTHORIZED', message: 'this gateway needs Authorization: Bearer <access token>' } },
        { status: 401, headers: { 'WWW-Authenticate': 'Bearer' } },
      )
    }
    if (principal.role === 'admin' && principal.scopes.has('admin')) return undefined
    for (const form of cidForms(cid)) {
      if (await registry.pins.getForAccount(principal.accountId, form)) return undefined
    }
    return Response.json({ error: { code: 'ERR_NOT_FOUND', message: `not found: ${cid}` } }, { status: 404 })
  }

  async function authorizeShareLink(token: string, cid: CID, segments: readonly string[]): Promise<Response | undefined> {
    const decision = await authorizeShare(cluster.coordinatorKey.publicKey, token, cid.toV1().toString(), segments)
    if (!decision.ok) return shareError(decision.status, decision.code, decision.message)
    // links die with the account, and with the account's last reference to the CID
    const account = await registry.accounts.get(decision.grant.accountId)
    if (account === undefined || account.disabled) return shareError(403, 'ERR_FORBIDDEN', 'the account that shared this link is disabled')
    if (account.role === 'admin') return undefined
    // a path-scoped link names the CID at the end of its path; the account holds the root above it
    const via = decision.grant.via === undefined ? undefined : openShareRoot(cluster.coordinatorKey.privateKey, decision.grant.via)
    for (const form of cidForms(via === undefined ? cid : parseCid(via))) {
      if (await registry.pins.getForAccount(account.id, form)) return undefined
    }
    return shareError(403, 'ERR_FORBIDDEN', 'this content is no longer shared by its account')
  }

  app.route({
    method: ['GET', 'HEAD'],
    url: '/ipfs/*',
    schema: { hide: true },
    handler: async (request, reply) => {
      reply.hijack()
      const aborter = new AbortController()
      reply.raw.once('close', () => aborter.abort())
      const response = await handler(toWebRequest(request.raw, aborter.signal))
      // content behind a token or share link must not be kept by shared caches, which
      // would then serve it to anyone (and past a link's expiry)
      if (config.gateway.access !== 'public') privateCaching(response.headers)
      await writeWebResponse(response, reply.raw, request.method === 'HEAD')
    },
  })
}

/** A CID as it may have been registered: as given, and its v0/v1 twins. */
function cidForms(cid: CID): string[] {
  const forms = new Set([cid.toString(), cid.toV1().toString()])
  if (cid.code === 0x70 && cid.multihash.code === 0x12) forms.add(cid.toV0().toString())
  return [...forms]
}

function shareError(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status, headers: { 'Cache-Control': 'no-store' } })
}

function privateCaching(headers: Headers): void {
  const cacheControl = headers.get('cache-control')
  if (cacheControl?.includes('public')) headers.set('cache-control', cacheControl.replace('public', 'private'))
}
