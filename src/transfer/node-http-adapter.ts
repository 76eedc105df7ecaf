import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { takeByteSource } from './gateway/byte-stream.ts'

/** Where to listen. */
export interface ServeOptions {
  /** Default `127.0.0.1`. */
  host?: string
  /** Default `0`: any free port (read it back from `url`). */
  port?: number
}

/** A running server. */
export interface ServedHandler {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string
  /**
   * Stops accepting connections. With `drainMs` > 0, requests in flight get that long to
   * finish (new requests on kept-alive connections meanwhile get 503 + `Connection:
   * close`); then, or at once without it, open connections are cut (in-flight bodies are
   * aborted). Resolves once every connection is closed.
   */
  close(options?: { drainMs?: number }): Promise<void>
}

/**
 * Serves a fetch-style handler (`Request` → `Response`) on node:http. Request bodies
 * stream into the handler, response bodies stream out with backpressure, a client that
 * disconnects aborts `request.signal` and cancels the response body, and a body that
 * errors mid-stream destroys the socket (the client sees an aborted response, never a
 * clean short one). A handler that throws yields a bare 500.
 */
export async function serveHandler(
  handler: (request: Request) => Promise<Response>,
  options: ServeOptions = {},
): Promise<ServedHandler> {
  const host = options.host ?? '127.0.0.1'
  let closing = false
  const server = createServer((req, res) => {
    if (closing) {
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' })
      res.end('shutting down')
      return
    }
    void respond(handler, req, res)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const hostPart = host.includes(':') ? `[${host}]` : host
  return {
    url: `http://${hostPart}:${port}`,
    close: ({ drainMs = 0 } = {}) =>
      new Promise<void>((resolve, reject) => {
        closing = true
        const cut = setTimeout(() => server.closeAllConnections(), drainMs)
        server.close((err) => {
          clearTimeout(cut)
          if (err) reject(err)
          else resolve()
        })
        server.closeIdleConnections()
      }),
  }
}

async function respond(handler: (request: Request) => Promise<Response>, req: IncomingMessage, res: ServerResponse) {
  const aborter = new AbortController()
  res.once('close', () => {
    if (!res.writableFinished) aborter.abort()
  })
  let response: Response
  try {
    response = await handler(toWebRequest(req, aborter.signal))
  } catch {
    if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' })
    res.end('internal error')
    return
  }
  await writeWebResponse(response, res, req.method === 'HEAD')
}

/** Builds a WHATWG `Request` from a node:http request (body streamed, not buffered). */
export function toWebRequest(req: IncomingMessage, signal?: AbortSignal): Request {
  const host = req.headers.host ?? 'localhost'
  const url = new URL(req.url ?? '/', `http://${host}`)
  const headers = new Headers()
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string)
  }
  const method = req.method ?? 'GET'
  const hasBody = method !== 'GET' && method !== 'HEAD'
  const init: RequestInit & { duplex?: 'half' } = { method, headers }
  if (signal !== undefined) init.signal = signal
  if (hasBody) {
    init.body = Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>
    init.duplex = 'half'
  }
  return new Request(url, init)
}

/**
 * Writes a WHATWG `Response` to a node:http response, honouring backpressure. On a body
 * error the socket is destroyed; on client disconnect the body is cancelled.
 */
export async function writeWebResponse(response: Response, res: ServerResponse, head = false): Promise<void> {
  const headers: Record<string, string | string[]> = {}
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value
  })
  const cookies = response.headers.getSetCookie()
  if (cookies.length > 0) headers['set-cookie'] = cookies
  res.writeHead(response.status, response.statusText || undefined, headers)
  res.flushHeaders()
  if (head || response.body === null) {
    await response.body?.cancel().catch(() => {})
    res.end()
    return
  }
  const source = takeByteSource(response.body)
  if (source !== undefined) {
    await writeChunks(source, res)
    return
  }
  const reader = response.body.getReader()
  const cancelOnClose = () => {
    reader.cancel().catch(() => {})
  }
  res.once('close', cancelOnClose)
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      if (res.destroyed) return
      if (!res.write(value)) await drained(res)
    }
    res.end()
  } catch {
    abortResponse(res)
  } finally {
    res.off('close', cancelOnClose)
  }
}

/**
 * The fast path of `writeWebResponse` for gateway bodies (see `takeByteSource`): the
 * generator's chunks go straight to `res`, with the same backpressure, cancellation and
 * error handling as the stream path, minus a promise and a queue per chunk.
 */
async function writeChunks(source: AsyncGenerator<Uint8Array>, res: ServerResponse): Promise<void> {
  let finished = false
  const returnOnClose = () => {
    if (!finished) void source.return(undefined).catch(() => {})
  }
  res.once('close', returnOnClose)
  try {
    for (;;) {
      const { value, done } = await source.next()
      if (done === true) break
      if (res.destroyed) return
      if (!res.write(value)) await drained(res)
    }
    finished = true
    res.end()
  } catch {
    finished = true
    abortResponse(res)
  } finally {
    res.off('close', returnOnClose)
    if (!finished) await source.return(undefined).catch(() => {})
  }
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.once('drain', done)
    res.once('close', done)
  })
}

/**
 * Ends a response whose body failed after the status was sent: the bytes already
 * written are flushed, then the socket is closed without the final chunk (or short of
 * `Content-Length`), so the client sees an incomplete response rather than a short one.
 */
function abortResponse(res: ServerResponse): void {
  const socket = res.socket
  if (socket === null) {
    res.destroy()
    return
  }
  socket.end()
  setTimeout(() => socket.destroy(), 5000).unref()
}
