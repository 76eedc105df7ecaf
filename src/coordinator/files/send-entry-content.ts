import type { FastifyReply, FastifyRequest } from 'fastify'
import { type BlockSource, PinfoldError, stat } from '../../core/index.ts'
import type { Entry, Registry } from '../../registry/index.ts'
import { type ConcurrencyLimiter, holdHeavyRead } from '../limits/index.ts'
import { dispositionFor, SANDBOX_HEADERS, TAR_CONTENT_TYPE } from './content-headers.ts'
import { abortOnClose, type DownloadMeterDeps, meteredBody } from './download-meter.ts'
import { sendFile } from './file-response.ts'
import { dagTarItems, directoryTarItems, type TarItem, tarArchive } from './tar-stream-export.ts'

export interface EntryContentDeps extends DownloadMeterDeps {
  registry: Registry
  /** Tar exports hold one of the account's heavy-read slots while they stream. */
  heavyReads: ConcurrencyLimiter
  /** Where the bytes are: the origin repo (staging), else the storage nodes (`ContentSource`). */
  source: BlockSource
}

export interface EntryContentRequest {
  accountId: string
  entry: Entry
  /** Segments below a folder entry when a path reached into it (`/Library/folder/a/b`). */
  remainder?: string[]
  download: boolean
}

/**
 * Answers with an entry's content: a file's bytes (ranges, HEAD), or a tar stream of a
 * folder's DAG or of a directory's tree. Which one depends on what the DAG node is, not
 * only on the entry kind, because a path may reach into a folder.
 */
export async function sendEntryContent(
  request: FastifyRequest,
  reply: FastifyReply,
  target: EntryContentRequest,
  deps: EntryContentDeps,
): Promise<FastifyReply> {
  const { entry, accountId } = target
  const remainder = target.remainder ?? []
  if (entry.kind === 'directory' || entry.cid === null) {
    const signal = abortOnClose(reply)
    const items = directoryTarItems(deps.registry, deps.source, accountId, entry, entry.name, { signal, logger: deps.logger })
    return sendTar(request, reply, entry.name, items, target, deps)
  }
  const cidPath = [entry.cid, ...remainder].join('/')
  const name = remainder.at(-1) ?? entry.name
  const node = await stat(deps.source, cidPath)
  if (node.type === 'directory') {
    const signal = abortOnClose(reply)
    return sendTar(request, reply, name, dagTarItems(deps.source, cidPath, name, { signal, logger: deps.logger }), target, deps)
  }
  if (node.type !== 'file' && node.type !== 'raw' && node.type !== 'identity') {
    throw new PinfoldError('ERR_NOT_A_FILE', `${name} is a ${node.type}, which cannot be downloaded`, { userError: true })
  }
  const file = { source: deps.source, cidPath, cid: node.cid.toString(), name, size: Number(node.size), download: target.download, accountId }
  return sendFile(request, reply, file, deps)
}

/** A streamed tar archive named `<name>.tar`; its length is unknown up front (chunked). */
function sendTar(
  request: FastifyRequest,
  reply: FastifyReply,
  name: string,
  items: AsyncIterable<TarItem>,
  target: EntryContentRequest,
  deps: EntryContentDeps,
): FastifyReply {
  if (request.method !== 'HEAD') holdHeavyRead(deps.heavyReads, target.accountId, reply.raw)
  reply
    .header('content-type', TAR_CONTENT_TYPE)
    .headers(SANDBOX_HEADERS)
    .header('cache-control', 'private, no-store')
    .header('content-disposition', dispositionFor(`${name}.tar`, target.download))
  if (request.method === 'HEAD') return reply.send()
  return reply.send(meteredBody(reply, tarArchive(items), target.accountId, deps))
}

