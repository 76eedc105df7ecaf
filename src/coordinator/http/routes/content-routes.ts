import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema, RouteHandlerMethod } from 'fastify'
import Type from 'typebox'
import { parsePath } from '../../../registry/index.ts'
import type { CoordinatorComponents } from '../../components.ts'
import { isDownload } from '../../files/content-headers.ts'
import { accountScope, AccountIdQuery, entryByCid, entryById, notFound, PathQuery } from '../../files/entry-lookup.ts'
import { type EntryContentDeps, type EntryContentRequest, sendEntryContent } from '../../files/send-entry-content.ts'
import { ErrorResponse, IdParams } from '../schemas.ts'

const DownloadFlag = Type.Optional(
  Type.Enum(['1', 'true', '0', 'false'], { description: '1/true: Content-Disposition attachment (else inline)' }),
)
const ContentQuery = Type.Object({ download: DownloadFlag, accountId: AccountIdQuery }, { additionalProperties: false })
const ContentByPathQuery = Type.Object({ path: PathQuery, download: DownloadFlag, accountId: AccountIdQuery }, { additionalProperties: false })
const CidParams = Type.Object({ cid: Type.String({ minLength: 1, maxLength: 200, description: 'a CID the account holds as a file or folder' }) })

const ContentResponses = {
  200: {
    description: 'a file’s bytes (Content-Type by extension), or a tar stream of a folder or directory',
    content: { 'application/octet-stream': { schema: {} }, 'application/x-tar': { schema: {} } },
  },
  206: { description: 'one byte range of a file (Content-Range)', content: { 'application/octet-stream': { schema: {} } } },
  304: { description: 'If-None-Match matched the ETag (the CID)' },
  400: ErrorResponse,
  404: ErrorResponse,
  416: ErrorResponse,
}

type ContentQueryValue = { download?: string; accountId?: string }

/**
 * Downloads: an entry's content by id, by path (a path may reach into a folder's DAG) or
 * by CID (only a CID the account holds through an entry). Files stream with ranges and
 * HEAD; folders and directories stream as tar. Bytes sent are metered per account.
 */
export function contentRoutes(app: FastifyInstance, components: CoordinatorComponents): void {
  const { registry, authenticate, metrics, logger } = components
  const deps: EntryContentDeps = {
    registry,
    source: components.content,
    metrics,
    heavyReads: components.heavyReads,
    logger: logger.child({ component: 'coordinator:content' }),
  }
  // no schema serializer for streamed bodies: the response schemas only document them
  const send = (request: FastifyRequest, reply: FastifyReply, target: EntryContentRequest) => sendEntryContent(request, reply, target, deps)
  // HEAD is declared with GET, not left to Fastify's implicit HEAD route, which would
  // overwrite the file's Content-Length with 0 for a bodiless reply
  const getAndHead = (url: string, schema: FastifySchema, handler: RouteHandlerMethod) => app.route({ method: ['GET', 'HEAD'], url, schema, handler })

  getAndHead(
    '/api/v1/entries/:id/content',
    { tags: ['files'], summary: 'Download an entry (file bytes, or tar of a folder/directory)', params: IdParams, querystring: ContentQuery, response: ContentResponses },
    async (request, reply) => {
      const { id } = request.params as { id: string }
      const query = request.query as ContentQueryValue
      const accountId = accountScope(await authenticate(request, 'read'), query.accountId)
      const entry = await entryById(registry, accountId, id)
      return send(request, reply, { accountId, entry, download: isDownload(query.download) })
    },
  )

  getAndHead(
    '/api/v1/content',
    { tags: ['files'], summary: 'Download by path (newest version by mtime; may reach into a folder)', querystring: ContentByPathQuery, response: ContentResponses },
    async (request, reply) => {
      const query = request.query as ContentQueryValue & { path: string }
      const accountId = accountScope(await authenticate(request, 'read'), query.accountId)
      parsePath(query.path) // `..` and friends are a 400 before any lookup
      const resolved = await registry.entries.resolve(accountId, query.path)
      if (resolved === undefined) throw notFound(`path ${query.path}`)
      return send(request, reply, { accountId, entry: resolved.entry, remainder: resolved.remainder, download: isDownload(query.download) })
    },
  )

  getAndHead(
    '/api/v1/cids/:cid/content',
    { tags: ['files'], summary: 'Download by CID (only content the account holds as an entry)', params: CidParams, querystring: ContentQuery, response: ContentResponses },
    async (request, reply) => {
      const { cid } = request.params as { cid: string }
      const query = request.query as ContentQueryValue
      const accountId = accountScope(await authenticate(request, 'read'), query.accountId)
      const entry = await entryByCid(registry, accountId, cid)
      return send(request, reply, { accountId, entry, download: isDownload(query.download) })
    },
  )
}
