import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { CID } from 'multiformats/cid'
import Type from 'typebox'
import { authorizeShare } from '../../../cluster/index.ts'
import { createGatewayHandler, toWebRequest, writeWebResponse } from '../../../transfer/index.ts'
import { parseCid } from '../../../core/index.ts'
import type { Principal } from '../../auth/principal.ts'
import type { CoordinatorComponents } from '../../components.ts'
import { TooManyHeavyReadsError } from '../../limits/index.ts'
import { openShareRoot } from '../../files/share-root.ts'

/**
 * `GET|HEAD /ipfs/{cid}[/{path}]` on the origin repository (`OPTIONS` 204, other methods 405): the trustless and path
 * gateway. With `gateway.access = token` a reader needs a token, and sees only CIDs its
 * account references (admins see all) — another account's content is "not found". A
 * storage node's peer token (signed by the coordinator key, node not revoked) reads any CID.
 * A signed share link (`?share=`, from `POST /api/v1/share`) reads its one CID and path
 * prefix without a bearer token while it is unexpired and its account still holds the CID.
 * Served on the portal's origin, every response is sandboxed (see `GatewayOrigin`); on the
 * gateway listener or a subdomain gateway host it is not, and with subdomains on the path
 * form is redirected to `<cid>.ipfs.<host>`.
 */
export async function gatewayRoutes(app: FastifyInstance, components: CoordinatorComponents): Promise<void> {
  const { config, registry, content, tokens, cluster, gatewayOrigin, heavyReads } = components
  const options = {
    source: content,
    authorize: config.gateway.access === 'public' ? undefined : (request: Request, cid: CID, segments: readonly string[]) => authorizeReader(request, cid, segments),
  }
  // on the portal's origin user content is sandboxed; on the gateway's own origin it is served as is
  const portalHandler = createGatewayHandler({ ...options, sandbox: true })
  const gatewayHandler = createGatewayHandler(options)

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

  /**
   * A slot of the reader's heavy-read budget, held until the response is written: the
   * account of a valid token, the address otherwise; storage nodes (peer tokens) are not
   * limited (replication). Throws ERR_TOO_MANY_HEAVY_READS (429) when none is free.
   */
  async function acquireHeavyRead(request: FastifyRequest): Promise<(() => void) | undefined> {
    const key = await readerKey(request)
    if (key === undefined) return undefined
    const release = heavyReads.tryAcquire(key)
    if (release === undefined) throw new TooManyHeavyReadsError(heavyReads.max)
    return release
  }

  async function readerKey(request: FastifyRequest): Promise<string | undefined> {
    const token = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1]
    if (token === undefined) return `ip:${request.ip}`
    const principal = await tokens.verify(token).catch(() => undefined)
    if (principal !== undefined) return `account:${principal.accountId}`
    return (await cluster.verifyPeer(token).catch(() => undefined)) === undefined ? `ip:${request.ip}` : undefined
  }

  app.get(
    '/api/v1/gateway',
    { schema: { tags: ['files'], summary: 'Where user content is served (links to content point here)', security: [], response: { 200: GatewayInfo } } },
    () => ({ url: gatewayOrigin.contentBaseUrl, separateOrigin: gatewayOrigin.gatewayUrl !== undefined, subdomains: config.gateway.subdomains }),
  )

  async function serve(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const aborter = new AbortController()
    reply.raw.once('close', () => aborter.abort())
    const handler = gatewayOrigin.isPortalOrigin(request.raw) ? portalHandler : gatewayHandler
    const response = await handler(toWebRequest(request.raw, aborter.signal))
    // content behind a token or share link must not be kept by shared caches, which
    // would then serve it to anyone (and past a link's expiry)
    if (config.gateway.access !== 'public') privateCaching(response.headers)
    await writeWebResponse(response, reply.raw, request.method === 'HEAD')
  }

  app.route({
    method: ['GET', 'HEAD'],
    url: '/ipfs/*',
    schema: { hide: true },
    handler: async (request, reply) => {
      const redirect = gatewayOrigin.subdomainRedirect(request.raw)
      if (redirect !== undefined) return reply.code(301).header('location', redirect).send()
      const release = isHeavyRead(request) ? await acquireHeavyRead(request) : undefined
      reply.hijack()
      try {
        await serve(request, reply)
      } finally {
        release?.()
      }
    },
  })
  // OPTIONS (CORS preflights) and 405 + Allow for the rest, answered by the gateway handler
  await app.register(async (scope) => {
    // the body of a refused method is never read
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null))
    scope.route({
      method: ['OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'],
      url: '/ipfs/*',
      schema: { hide: true },
      handler: async (request, reply) => {
        reply.hijack()
        await serve(request, reply)
      },
    })
  })
}

/**
 * Requests that may walk a whole directory or DAG: a directory URL (its listing), a CAR or
 * a tar. Decided from the URL alone, before any block is read; HEAD only reads the root.
 */
function isHeavyRead(request: FastifyRequest): boolean {
  if (request.method === 'HEAD') return false
  const url = new URL(request.url, 'http://gateway')
  const format = url.searchParams.get('format')
  if (format === 'car' || format === 'tar') return true
  if (/application\/(vnd\.ipld\.car|x-tar)/i.test(request.headers.accept ?? '')) return true
  return url.pathname.endsWith('/')
}

const GatewayInfo = Type.Object({
  url: Type.String({ description: 'base URL of /ipfs/ links: gateway.publicUrl (or the gateway listener), else the portal’s own URL' }),
  separateOrigin: Type.Boolean({ description: 'true when user content is served on an origin other than the portal’s' }),
  subdomains: Type.Boolean({ description: 'path-form links are redirected to <cid>.ipfs.<gateway host>' }),
})

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
