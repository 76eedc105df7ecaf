import { Readable } from 'node:stream'
import type { FastifyReply } from 'fastify'
import type { Logger } from 'pino'
import type { Registry } from '../../registry/index.ts'
import type { CoordinatorMetrics } from '../metrics/coordinator-metrics.ts'

export interface DownloadMeterDeps {
  registry: Registry
  metrics: CoordinatorMetrics
  logger: Logger
}

/**
 * Streams `source` as the response body and, once the response is over (finished or cut
 * off), records the bytes the stream accepted as the account's `download_bytes` and in
 * `pinfold_bytes_sent_total`. A chunk counts only when the stream asks for the next one
 * (the previous one was taken), and the stream buffers little, so a client that
 * disconnects is billed for about what it was sent, not for what was read ahead.
 */
export function meteredBody(reply: FastifyReply, source: AsyncIterable<Uint8Array>, accountId: string, deps: DownloadMeterDeps): Readable {
  let sent = 0
  let closed = false
  async function* counted(): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of source) {
        yield chunk
        sent += chunk.byteLength
      }
    } catch (error) {
      // the client went away and the reads stopped with it: nobody is left to tell, and an
      // error here would be emitted on a stream the server no longer listens to
      if (closed) return
      throw error
    }
  }
  reply.raw.once('close', () => {
    closed = true
    if (sent === 0) return
    deps.metrics.bytesOut.inc(sent)
    deps.registry.usage.record(accountId, 'download_bytes', sent).catch((error: unknown) => {
      deps.logger.error({ err: error, accountId, bytes: sent }, 'could not record download usage')
    })
  })
  return Readable.from(counted(), { objectMode: false, highWaterMark: 64 * 1024 })
}

/** An AbortSignal that fires when the client goes away, so reads stop with it. */
export function abortOnClose(reply: FastifyReply): AbortSignal {
  const aborter = new AbortController()
  reply.raw.once('close', () => aborter.abort())
  return aborter.signal
}
