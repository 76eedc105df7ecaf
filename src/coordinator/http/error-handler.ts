import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { PinfoldError } from '../../core/index.ts'
import { httpStatusFor } from './error-status.ts'

/** The one error shape every client sees: `{"error":{"code","message"}}`. */
export function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error: { code, message } })
}

/** Fastify's own failures (validation, bad JSON, size limits) translated to stable codes. */
const FASTIFY_CODES: Record<string, [number, string]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'ERR_INVALID_JSON'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'ERR_INVALID_JSON'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'ERR_BODY_TOO_LARGE'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'ERR_UNSUPPORTED_MEDIA_TYPE'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'ERR_VALIDATION'],
  FST_REQ_FILE_TOO_LARGE: [413, 'ERR_UPLOAD_TOO_LARGE'],
  FST_PARTS_LIMIT: [413, 'ERR_BODY_TOO_LARGE'],
  FST_FILES_LIMIT: [413, 'ERR_BODY_TOO_LARGE'],
  FST_FIELDS_LIMIT: [413, 'ERR_BODY_TOO_LARGE'],
  FST_INVALID_MULTIPART_CONTENT_TYPE: [415, 'ERR_UNSUPPORTED_MEDIA_TYPE'],
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof PinfoldError) {
      const status = httpStatusFor(error.code, error.userError)
      if (status >= 500) request.log.error({ err: error }, 'request failed')
      return sendError(reply, status, error.code, error.message)
    }
    if (error.validation) return sendError(reply, 400, 'ERR_VALIDATION', error.message)
    const known = error.code ? FASTIFY_CODES[error.code] : undefined
    if (known) return sendError(reply, known[0], known[1], error.message)
    if (error.statusCode === 429) return sendError(reply, 429, 'ERR_RATE_LIMITED', error.message)
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return sendError(reply, error.statusCode, 'ERR_BAD_REQUEST', error.message)
    }
    request.log.error({ err: error }, 'unexpected error')
    return sendError(reply, 500, 'ERR_INTERNAL', 'internal error')
  })
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, 'ERR_NOT_FOUND', `no route for ${request.method} ${request.url.split('?')[0]}`),
  )
}
