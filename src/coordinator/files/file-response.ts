import type { FastifyReply, FastifyRequest } from 'fastify'
import { type BlockSource, cat, PinfoldError } from '../../core/index.ts'
import { isActiveContentType } from '../../transfer/gateway/content-type.ts'
import { evaluateRange } from '../../transfer/gateway/http-range.ts'
import { dispositionFor, fileContentType, SANDBOX_HEADERS } from './content-headers.ts'
import { abortOnClose, type DownloadMeterDeps, meteredBody } from './download-meter.ts'

export interface FileToSend {
  source: BlockSource
  /** What core's `cat` reads: `CID` or `CID/a/b` inside a folder. */
  cidPath: string
  /** The CID of the file's own root: the ETag, since the bytes never change under it. */
  cid: string
  /** Name for Content-Type and Content-Disposition. */
  name: string
  size: number
  download: boolean
  accountId: string
}

/**
 * Answers with a file's bytes: the whole file (200) or a single byte range (206), or 416
 * when the range selects nothing; HEAD gets the same headers without a body. Several
 * ranges get the whole file, which RFC 9110 allows (as the gateway does).
 */
export async function sendFile(request: FastifyRequest, reply: FastifyReply, file: FileToSend, deps: DownloadMeterDeps): Promise<FastifyReply> {
  const etag = `"${file.cid}"`
  const contentType = fileContentType(file.name)
  reply
    .header('content-type', contentType)
    .header('accept-ranges', 'bytes')
    .header('etag', etag)
    // authorised content: caches may keep it per user only; it never changes under its CID
    .header('cache-control', 'private, max-age=0, must-revalidate')
    // the portal’s origin: sandboxed, and HTML/SVG/XML is always a download there
    .headers(SANDBOX_HEADERS)
    .header('content-disposition', dispositionFor(file.name, file.download || isActiveContentType(contentType)))
  if (request.headers['if-none-match'] === etag) return reply.code(304).send()
  const range = evaluateRange(request.headers.range ?? null, file.size)
  if (range.kind === 'unsatisfiable') {
    reply.header('content-range', `bytes */${file.size}`)
    throw new PinfoldError('ERR_RANGE_NOT_SATISFIABLE', `range ${request.headers.range} is outside the ${file.size} bytes of the file`, {
      userError: true,
    })
  }
  let offset = 0
  let length = file.size
  if (range.kind === 'partial') {
    offset = range.first
    length = range.last - range.first + 1
    reply.code(206).header('content-range', `bytes ${range.first}-${range.last}/${file.size}`)
  }
  reply.header('content-length', length)
  if (request.method === 'HEAD') return reply.send()
  const signal = abortOnClose(reply)
  return reply.send(meteredBody(reply, cat(file.source, file.cidPath, { offset, length, signal }), file.accountId, deps))
}
