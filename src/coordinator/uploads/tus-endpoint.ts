import type { IncomingMessage } from 'node:http'
import { EVENTS, Server } from '@tus/server'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { PinfoldError } from '../../core/index.ts'
import { LIBRARY, parsePath } from '../../registry/index.ts'
import type { Authenticator } from '../auth/authenticator.ts'
import type { Principal } from '../auth/principal.ts'
import { httpStatusFor } from '../http/error-status.ts'
import { parseLayout, parseMtime } from './upload-fields.ts'
import { importTusUpload, OWNER_KEY, openTusStore, tusTarget } from './tus-files.ts'
import { QuotaExceededError } from './upload-limits.ts'
import { parseRelativePath } from './upload-paths.ts'
import type { UploadService } from './upload-service.ts'

export const TUS_PATH = '/api/v1/uploads/tus'
/** Response header carrying the registry upload id once a tus upload has been imported. */
export const UPLOAD_ID_HEADER = 'Pinfold-Upload-Id'

/** The tus 1.0 endpoint (creation, HEAD offset, PATCH, termination) as a Fastify handler. */
export interface TusEndpoint {
  /** Authenticates, then hands the raw request to tus (the body must not have been read). */
  handle(request: FastifyRequest, reply: FastifyReply): Promise<void>
}

export interface TusEndpointOptions {
  /** Browser origins whose requests get `Access-Control-Allow-Origin` (the API's `cors.allowOrigins`). */
  allowsOrigin: (origin: string) => boolean
}

type TusRequest = Parameters<NonNullable<ConstructorParameters<typeof Server>[0]['onUploadCreate']>>[0]

/**
 * Resumable uploads. Each request is authenticated by the same bearer token as the REST API
 * before tus sees it; the upload is tied to the creating account (metadata `pinfoldAccount`),
 * and any other account gets 404 for it. Bytes go to a FileStore under `service.tusDir`, which
 * survives restarts so uploads can resume. When the last byte arrives, the file is imported
 * exactly like a multipart `files` upload (registry upload id = tus id) and the final PATCH
 * answers with `Pinfold-Upload-Id` once the upload is `done`.
 */
export function createTusEndpoint(service: UploadService, authenticate: Authenticator, options: TusEndpointOptions): TusEndpoint {
  const principals = new WeakMap<IncomingMessage, Principal>()
  const principalIfAny = (req: TusRequest): Principal | undefined => {
    const raw = (req as { runtime?: { node?: { req?: IncomingMessage } } }).runtime?.node?.req
    return raw && principals.get(raw)
  }
  const principalOf = (req: TusRequest): Principal => {
    const principal = principalIfAny(req)
    if (!principal) throw new PinfoldError('ERR_UNAUTHORIZED', 'authentication required', { userError: true })
    return principal
  }
  const datastore = openTusStore(service.tusDir)
  const server = new Server({
    path: TUS_PATH,
    datastore,
    exposedHeaders: [UPLOAD_ID_HEADER],
    // the same allow-list as the rest of the API (tus would answer every origin with *)
    allowedOrigins: (origin) => options.allowsOrigin(origin),
    // per account: the coordinator's limit and the account's upload quota (0 = unlimited)
    // OPTIONS (discovery) is answered without a principal: then no Tus-Max-Size is announced
    maxSize: async (req) => {
      const principal = req.method === 'OPTIONS' ? principalIfAny(req) : principalOf(req)
      if (principal === undefined) return 0
      const limit = (await service.limits(principal.accountId)).uploadBytes
      return Number.isFinite(limit) ? limit : 0
    },
    onIncomingRequest: async (req, id) => {
      const principal = principalOf(req)
      if (req.method === 'POST') return
      const upload = await datastore.getUpload(id)
      if (upload.metadata?.[OWNER_KEY] !== principal.accountId) throw notFound()
    },
    // the upload record is created here, before the store's files: an open upload is visible,
    // counts toward the account's open uploads and reserves its declared length in the quota
    onUploadCreate: async (req, upload) => {
      const principal = principalOf(req)
      const metadata = validateMetadata(upload.metadata ?? {})
      const limits = await service.limits(principal.accountId)
      if (upload.size !== undefined && upload.size > limits.storageBytes) throw new QuotaExceededError(limits.storageBytes)
      const { targetPath, name } = tusTarget({ metadata })
      await service.begin(principal.accountId, { targetPath, name, id: upload.id, bytes: upload.size ?? 0 })
      return { metadata: { ...metadata, [OWNER_KEY]: principal.accountId } }
    },
    onUploadFinish: async (req, upload) => {
      const principal = principalOf(req)
      await importTusUpload(service, datastore, principal.accountId, upload)
      return { headers: { [UPLOAD_ID_HEADER]: upload.id } }
    },
    onResponseError: (_req, error) => (error instanceof PinfoldError ? toTusError(error) : undefined),
  })
  server.on(EVENTS.POST_TERMINATE, (req: TusRequest, _res: unknown, id: string) => {
    void service.abandon(principalOf(req).accountId, id).catch(() => undefined)
  })
  return {
    async handle(request, reply) {
      // OPTIONS (tus discovery) needs no credentials; with a valid token it announces the account's limit
      const principal = request.method === 'OPTIONS' ? await authenticate(request, 'write').catch(() => undefined) : await authenticate(request, 'write')
      if (principal !== undefined) principals.set(request.raw, principal)
      reply.hijack()
      await server.handle(request.raw, reply.raw)
    },
  }
}

/** Refuses bad metadata at creation, before any byte is accepted. */
function validateMetadata(metadata: Record<string, string | null>): Record<string, string | null> {
  const get = (key: string) => metadata[key] ?? undefined
  parseRelativePath(get('relativePath') ?? get('filename') ?? '')
  parsePath(get('path') ?? `/${LIBRARY}`)
  const mtime = get('mtime')
  if (mtime !== undefined) parseMtime('mtime', mtime)
  parseLayout({ get })
  const { [OWNER_KEY]: _ignored, ...rest } = metadata
  return rest
}

function notFound(): PinfoldError {
  return new PinfoldError('ERR_UPLOAD_NOT_FOUND', 'upload not found', { userError: true })
}

/** tus answers with a status and a text body; ours is the API's JSON error shape. */
function toTusError(error: PinfoldError): { status_code: number; body: string } {
  return {
    status_code: httpStatusFor(error.code, error.userError),
    body: JSON.stringify({ error: { code: error.code, message: error.userError ? error.message : 'internal error' } }),
  }
}
