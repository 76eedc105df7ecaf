import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import { issueShareToken } from '../../../cluster/index.ts'
import { assertSafeName, parseCid, stat } from '../../../core/index.ts'
import type { CoordinatorComponents } from '../../components.ts'
import { notFound } from '../../files/entry-lookup.ts'
import { cidForms } from '../../files/cid-forms.ts'
import { sealShareRoot } from '../../files/share-root.ts'
import { ErrorResponse, Timestamp } from '../schemas.ts'

/** Longest a share link may live. */
export const MAX_SHARE_SECONDS = 30 * 86400

const ShareBody = Type.Object(
  {
    cid: Type.String({ minLength: 1, maxLength: 200, description: 'a CID the account holds (admins: any CID)' }),
    path: Type.Optional(Type.String({ maxLength: 4096, description: 'limit the link to this path below the CID, e.g. docs/a.pdf' })),
    expiresIn: Type.Integer({ minimum: 1, maximum: MAX_SHARE_SECONDS, default: 3600, description: 'lifetime in seconds (at most 30 days)' }),
  },
  { additionalProperties: false },
)

const ShareResponse = Type.Object({
  url: Type.String({ description: '<gateway.publicUrl, else publicUrl, else the listen URL>/ipfs/<shared cid>?share=<token>' }),
  token: Type.String({ description: 'the share token alone (the `share` query parameter)' }),
  cid: Type.String({ description: 'the CID the link opens: the given CID, or the one its path leads to (nothing above it is revealed)' }),
  path: Type.String({ description: 'the path below `cid` the link is limited to: always "" (a path is resolved when the link is made)' }),
  expiresAt: Timestamp,
})

/**
 * `POST /api/v1/share`: a signed, expiring read link for one CID (and optionally a path
 * below it) that the gateway honours without a bearer token, even in `gateway.access =
 * token` mode. Signed with the coordinator's Ed25519 key, so storage nodes accept it too.
 * A path is resolved now and the link names the CID it leads to, so neither its URL nor
 * its CAR reveals the root or anything else above the path (the root travels sealed in
 * the token, for the "account still holds it" check).
 */
export function shareRoutes(app: FastifyInstance, components: CoordinatorComponents): void {
  const { registry, repo, authenticate, cluster, gatewayOrigin } = components
  app.post(
    '/api/v1/share',
    {
      schema: {
        tags: ['files'],
        summary: 'Create a signed, expiring read link to a CID (or a path below it)',
        body: ShareBody,
        response: { 200: ShareResponse, 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (request) => {
      const principal = await authenticate(request, 'read')
      const body = request.body as { cid: string; path?: string; expiresIn: number }
      const cid = parseCid(body.cid)
      const path = (body.path ?? '').split('/').filter((segment) => segment !== '')
      for (const segment of path) assertSafeName(segment)
      if (!(principal.role === 'admin' && principal.scopes.has('admin'))) {
        let held = false
        for (const form of cidForms(body.cid)) {
          if (await registry.pins.getForAccount(principal.accountId, form)) {
            held = true
            break
          }
        }
        if (!held) throw notFound(`CID ${body.cid}`)
      }
      const expiresAt = Math.floor(Date.now() / 1000) + body.expiresIn
      const target = path.length === 0 ? cid : await resolveShared(body.cid, path)
      const token = await issueShareToken(cluster.coordinatorKey.privateKey, {
        cid: target.toV1().toString(),
        path: [],
        accountId: principal.accountId,
        expiresAt,
        ...(path.length === 0 ? {} : { via: sealShareRoot(cluster.coordinatorKey.privateKey, body.cid) }),
      })
      // never from the request's Host, which whoever sends the request chooses
      const base = gatewayOrigin.contentBaseUrl
      return {
        url: `${base}/ipfs/${target.toString()}?share=${token}`,
        token,
        cid: target.toString(),
        path: '',
        expiresAt: new Date(expiresAt * 1000).toISOString(),
      }
    },
  )

  /** The CID `path` leads to below `root`; a path that does not exist is "not found". */
  async function resolveShared(root: string, path: string[]) {
    try {
      return (await stat(repo.blocks, [root, ...path].join('/'))).cid
    } catch {
      throw notFound(`${root}/${path.join('/')}`)
    }
  }
}
