import type { IncomingMessage } from 'node:http'
import multipart from '@fastify/multipart'
import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import type { Upload } from '../../../registry/index.ts'
import type { CoordinatorComponents } from '../../components.ts'
import { originPolicy } from '../cors.ts'
import { MULTIPART_OPTIONS, receiveMultipart } from '../../uploads/multipart-receiver.ts'
import { createTusEndpoint, TUS_PATH, UPLOAD_ID_HEADER } from '../../uploads/tus-endpoint.ts'
import { checkDeclaredLength } from '../../uploads/upload-limits.ts'
import type { UploadedEntry } from '../../uploads/upload-request.ts'
import { ErrorResponse, IdParams, isoTime, Timestamp } from '../schemas.ts'

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

const UploadEntrySchema = Type.Object({
  id: Type.String(),
  path: Type.String(),
  kind: Type.Enum(['file', 'folder']),
  cid: Type.String(),
  size: Type.Integer(),
})

const UploadSchema = Type.Object({
  id: Type.String(),
  status: Type.Enum(['receiving', 'importing', 'saving', 'done', 'error']),
  stage: Nullable(Type.String({ description: 'stage in progress, or the stage it failed at' })),
  reason: Nullable(Type.String({ description: 'why it failed' })),
  targetPath: Type.String(),
  name: Nullable(Type.String()),
  bytes: Type.Integer({ description: 'file bytes received' }),
  cid: Nullable(Type.String({ description: 'the folder CID, or the file CID of a one-file upload' })),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  entries: Type.Optional(Type.Array(UploadEntrySchema, { description: 'entries created (in the response to the upload itself)' })),
})

const UploadResponse = Type.Object({ upload: UploadSchema })

const MultipartBody = Type.Object(
  {
    path: Type.Optional(Type.String({ description: 'target directory, created if missing (default /Library)' })),
    mode: Type.Optional(Type.Enum(['files', 'folder'], { description: 'files: one entry per file; folder: one immutable directory, one CID' })),
    name: Type.Optional(Type.String({ description: 'folder mode: the folder name (default: the common top-level directory)' })),
    profile: Type.Optional(Type.Enum(['kubo', 'v1-2025'])),
    cidVersion: Type.Optional(Type.Enum(['0', '1'])),
    rawLeaves: Type.Optional(Type.Enum(['true', 'false'])),
    chunker: Type.Optional(Type.String({ description: 'size-N' })),
    mtime: Type.Optional(Type.String({ description: 'ms since epoch: the folder entry’s mtime, or the default for every file' })),
    meta: Type.Optional(Type.String({ description: 'JSON {"mtimes": {"<relative path>": <ms>}}; fields "mtime:<n>" (n = file part index) also work' })),
    file: Type.Array(Type.String({ format: 'binary' }), {
      description: 'file parts; each filename is its relative path (a/b/c.txt, as webkitRelativePath)',
    }),
  },
  { description: 'Setting fields (path, mode, name, profile, cidVersion, rawLeaves, chunker, mtime) must come before the first file part.' },
)

function present(upload: Upload, entries?: UploadedEntry[]) {
  return {
    id: upload.id,
    status: upload.status,
    stage: upload.stage,
    reason: upload.reason,
    targetPath: upload.targetPath,
    name: upload.name,
    bytes: upload.bytes,
    cid: upload.cid,
    createdAt: isoTime(upload.createdAt) ?? '',
    updatedAt: isoTime(upload.updatedAt) ?? '',
    ...(entries ? { entries } : {}),
  }
}

/** Uploads: multipart (files or one folder), tus resumable uploads, and their status. */
export async function uploadRoutes(app: FastifyInstance, components: CoordinatorComponents): Promise<void> {
  const { authenticate, uploads } = components
  await app.register(async (scope) => {
    await scope.register(multipart, MULTIPART_OPTIONS)
    scope.post(
      '/api/v1/uploads',
      {
        schema: {
          tags: ['uploads'],
          summary: 'Upload files or one folder (multipart/form-data, streamed to disk)',
          description:
            'Answers 201 once the upload is durable (status done), or 202 right after receiving with async=true. ' +
            '413 over the upload size limit, 507 over the storage quota, 400 for an invalid relative path.',
          consumes: ['multipart/form-data'],
          querystring: Type.Object({ async: Type.Optional(Type.Boolean({ description: 'answer 202 after receiving; import in the background' })) }),
          body: MultipartBody,
          response: { 201: UploadResponse, 202: UploadResponse, 400: ErrorResponse, 413: ErrorResponse, 507: ErrorResponse },
        },
        // the body is a stream the handler reads part by part; its schema is documentation only
        validatorCompiler: ({ httpPart }) => (httpPart === 'body' ? () => true : (value) => validateAsyncQuery(value)),
      },
      async (request, reply) => {
        const principal = await authenticate(request, 'write')
        const limits = await uploads.limits(principal.accountId)
        // refuse by the declared size before reading the body; the close stops the client sending it
        reply.header('connection', 'close')
        const received = await Promise.resolve()
          .then(() => {
            checkDeclaredLength(limits, request.headers['content-length'])
            return receiveMultipart(request, { service: uploads, accountId: principal.accountId, limits })
          })
          .catch(async (error: unknown) => {
            // a client still sending a small remainder should read our answer, not a reset
            if (await drainBody(request.raw, DRAIN_LIMIT_BYTES)) reply.removeHeader('connection')
            throw error
          })
        reply.removeHeader('connection')
        const background = (request.query as { async?: unknown }).async === 'true' || (request.query as { async?: unknown }).async === true
        const outcome = await uploads.complete(principal.accountId, received.upload.id, received.request, { background })
        return reply.code(background ? 202 : 201).send({ upload: present(outcome.upload, background ? undefined : outcome.entries) })
      },
    )
  })
  app.get(
    '/api/v1/uploads',
    {
      schema: {
        tags: ['uploads'],
        summary: 'The caller’s uploads, newest first',
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }),
        response: { 200: Type.Object({ uploads: Type.Array(UploadSchema) }) },
      },
    },
    async (request) => {
      const principal = await authenticate(request, 'read')
      const { limit } = request.query as { limit: number }
      return { uploads: (await uploads.list(principal.accountId, { limit })).map((upload) => present(upload)) }
    },
  )
  app.get(
    '/api/v1/uploads/:id',
    {
      schema: {
        tags: ['uploads'],
        summary: 'Status of one upload (receiving → importing → saving → done | error)',
        params: IdParams,
        response: { 200: UploadResponse, 404: ErrorResponse },
      },
    },
    async (request) => {
      const principal = await authenticate(request, 'read')
      const { id } = request.params as { id: string }
      return { upload: present(await uploads.get(principal.accountId, id)) }
    },
  )
  await app.register(async (scope) => {
    // tus reads the raw body itself: these parsers leave it untouched
    scope.addContentTypeParser('application/offset+octet-stream', (_request, _payload, done) => done(null))
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null))
    const tus = createTusEndpoint(uploads, authenticate, { allowsOrigin: originPolicy(components.config.cors.allowOrigins) })
    const schema = {
      tags: ['uploads'],
      summary: `Resumable upload (tus 1.0: creation, HEAD offset, PATCH, termination); the finishing PATCH answers ${UPLOAD_ID_HEADER}`,
      description:
        'Upload-Metadata: filename, path (target directory), optional relativePath, mtime (ms), profile, cidVersion, rawLeaves, chunker.',
    }
    scope.route({ method: ['POST', 'OPTIONS'], url: TUS_PATH, schema, handler: (request, reply) => tus.handle(request, reply) })
    scope.route({
      method: ['HEAD', 'PATCH', 'DELETE', 'OPTIONS'],
      url: `${TUS_PATH}/:id`,
      schema: { ...schema, params: IdParams },
      handler: (request, reply) => tus.handle(request, reply),
    })
  })
}

/** Bytes of an unread body we swallow after a refusal rather than cutting the connection. */
const DRAIN_LIMIT_BYTES = 1024 * 1024

/** Reads and discards the rest of a request body; false when it was too large or never ended. */
function drainBody(raw: IncomingMessage, limit: number): Promise<boolean> {
  if (raw.readableEnded) return Promise.resolve(true)
  return new Promise((resolve) => {
    let seen = 0
    const finish = (ok: boolean) => {
      clearTimeout(timer)
      raw.off('data', onData)
      raw.off('end', onEnd)
      raw.off('close', onClose)
      resolve(ok)
    }
    const onData = (chunk: Buffer) => {
      seen += chunk.length
      if (seen > limit) finish(false)
    }
    const onEnd = () => finish(true)
    const onClose = () => finish(raw.readableEnded)
    const timer = setTimeout(() => finish(false), 2000)
    raw.on('data', onData)
    raw.on('end', onEnd)
    raw.on('close', onClose)
    raw.resume()
  })
}

/** `?async=true|false` only; the multipart route skips schema compilation (see above). */
function validateAsyncQuery(value: unknown): { value: unknown } | { error: Error } {
  const query = (value ?? {}) as Record<string, unknown>
  for (const [key, v] of Object.entries(query)) {
    if (key !== 'async' || (v !== 'true' && v !== 'false')) return { error: new Error(`querystring/${key} must be async=true|false`) }
  }
  return { value: query }
}
