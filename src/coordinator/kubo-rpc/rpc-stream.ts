import { Readable } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { type DownloadMeterDeps, meteredBody } from '../files/download-meter.ts'

/**
 * An unbounded push queue read as an async iterable: producers `push` (from callbacks, too),
 * `close` ends it, `close(error)` makes the reader throw after the items already queued.
 */
export class Channel<T> implements AsyncIterable<T> {
  readonly #items: T[] = []
  #done = false
  #error: unknown
  #wake: (() => void) | undefined

  push(item: T): void {
    if (this.#done) return
    this.#items.push(item)
    this.#notify()
  }

  close(error?: unknown): void {
    if (this.#done) return
    this.#done = true
    this.#error = error
    this.#notify()
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const item = this.#items.shift()
      if (item !== undefined) {
        yield item
        continue
      }
      if (this.#done) {
        if (this.#error !== undefined) throw this.#error
        return
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
    }
  }
}

/**
 * Sends `source` as the body once its first chunk exists, so a failure before any output
 * (a missing block, a bad argument) is still a proper Kubo error answer. A failure after
 * the headers went out aborts the connection: the client sees a broken stream, never a
 * truncated body passing for a complete one. A client going away stops the source.
 * With `meter`, the bytes sent are recorded as the account's download usage.
 */
export async function sendStream(
  reply: FastifyReply,
  headers: Record<string, string>,
  source: AsyncIterable<Uint8Array | string>,
  meter?: { accountId: string; deps: DownloadMeterDeps },
): Promise<FastifyReply> {
  const iterator = source[Symbol.asyncIterator]()
  const first = await iterator.next()
  async function* body(): AsyncGenerator<Uint8Array | string> {
    try {
      if (first.done) return
      yield first.value
      for (;;) {
        const next = await iterator.next()
        if (next.done) return
        yield next.value
      }
    } finally {
      await iterator.return?.()
    }
  }
  reply.headers(headers)
  if (meter) return reply.send(meteredBody(reply, body() as AsyncIterable<Uint8Array>, meter.accountId, meter.deps))
  return reply.send(Readable.from(body(), { objectMode: false }))
}

/** NDJSON lines of `items`, as Kubo streams command outputs. */
export async function* ndjson(items: AsyncIterable<unknown>): AsyncGenerator<string> {
  for await (const item of items) yield `${JSON.stringify(item)}\n`
}

/** Headers Kubo sends with streamed JSON outputs (`add`, `pin/ls --stream`, `dag/import`). */
export const CHUNKED_JSON_HEADERS = {
  'content-type': 'application/json',
  'x-chunked-output': '1',
}

/** Headers Kubo sends with byte outputs (`cat`, `get`, `block/get`, `dag/export`). */
export function streamOutputHeaders(contentType: string): Record<string, string> {
  return { 'content-type': contentType, 'x-stream-output': '1' }
}
