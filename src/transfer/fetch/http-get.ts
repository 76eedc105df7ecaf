import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { AddressPolicy } from './address-policy.ts'

/**
 * Keep-alive agents shared by every fetch of the process (idle sockets are unref'd, so they
 * never hold the process open, and closed after the agent's idle timeout).
 */
const agents = {
  http: new HttpAgent({ keepAlive: true, timeout: 60_000 }),
  https: new HttpsAgent({ keepAlive: true, timeout: 60_000 }),
}

export interface HttpGetOptions {
  /** Every connection, on every redirect hop, goes only to addresses this policy allows. */
  addressPolicy?: AddressPolicy
}

const MAX_REDIRECTS = 5
const REDIRECTS = new Set([301, 302, 303, 307, 308])

/**
 * `GET url` on node:http(s) with keep-alive, resolving with the response once its head is in
 * (any status; the caller reads or destroys the body). Used instead of `fetch()`, whose
 * WHATWG body stream caps a single transfer well below what node:http reads.
 *
 * - `signal` cancels the request at any point (the body then errors with it).
 * - Follows up to 5 redirects as `fetch()` would, dropping `authorization` on a cross-origin
 *   hop.
 * - A request that fails with ECONNRESET before any response on a reused idle socket (the
 *   server closed it as we picked it) is retried once on a fresh one.
 */
export async function httpGet(
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  options: HttpGetOptions = {},
): Promise<IncomingMessage> {
  let target = new URL(url)
  let sent = headers
  for (let hop = 0; ; hop++) {
    options.addressPolicy?.checkHost(target.hostname)
    const response = await getOnce(target, sent, signal, options.addressPolicy?.agents ?? agents)
    const location = response.headers.location
    if (!REDIRECTS.has(response.statusCode ?? 0) || location === undefined || hop >= MAX_REDIRECTS) return response
    response.resume()
    const next = new URL(location, target)
    if (next.origin !== target.origin) sent = withoutAuthorization(sent)
    target = next
  }
}

function getOnce(
  url: URL,
  headers: Record<string, string>,
  signal: AbortSignal,
  pool: { http: HttpAgent; https: HttpsAgent },
  retried = false,
): Promise<IncomingMessage> {
  const https = url.protocol === 'https:'
  if (!https && url.protocol !== 'http:') return Promise.reject(new Error(`unsupported protocol ${url.protocol}`))
  return new Promise<IncomingMessage>((resolve, reject) => {
    const options = { headers, signal, agent: https ? pool.https : pool.http }
    const req = https ? httpsRequest(url, options) : httpRequest(url, options)
    let settled = false
    req.once('response', (response) => {
      settled = true
      resolve(response)
    })
    // stays on: a request destroyed later (abort mid-body) emits errors the body reports
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return
      settled = true
      if (!retried && req.reusedSocket && err.code === 'ECONNRESET' && !signal.aborted) {
        resolve(getOnce(url, headers, signal, pool, true))
        return
      }
      reject(err)
    })
    req.end()
  })
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'authorization'))
}

/**
 * The chunks of a response body as they come off the socket, never concatenated (a paused
 * stream's `read()` joins whatever is buffered into a fresh buffer: one more copy of most of
 * the data when the consumer is the slower side). Holds at most `highWaterMark` bytes beyond
 * what the consumer took, pausing the socket meanwhile. The iterator throws the body's error
 * (aborted, reset); ends only where the body ends; `return()` destroys the body.
 */
export function bodyChunks(body: IncomingMessage, highWaterMark = 1024 * 1024): AsyncIterator<Buffer> {
  const queue: Buffer[] = []
  let queued = 0
  let ended = false
  let failure: unknown
  let wake: (() => void) | undefined
  const notify = () => {
    const w = wake
    wake = undefined
    w?.()
  }
  body.on('data', (chunk: Buffer) => {
    queue.push(chunk)
    queued += chunk.byteLength
    if (queued >= highWaterMark) body.pause()
    notify()
  })
  body.once('end', () => {
    ended = true
    notify()
  })
  body.once('error', (err) => {
    failure ??= err
    notify()
  })
  body.once('close', () => {
    if (!ended) failure ??= new Error('response body closed before its end')
    notify()
  })
  return {
    async next(): Promise<IteratorResult<Buffer>> {
      for (;;) {
        const chunk = queue.shift()
        if (chunk !== undefined) {
          queued -= chunk.byteLength
          if (queued < highWaterMark && body.isPaused()) body.resume()
          return { value: chunk, done: false }
        }
        if (failure !== undefined) throw failure
        if (ended) return { value: undefined, done: true }
        await new Promise<void>((resolve) => {
          wake = resolve
        })
      }
    },
    async return(): Promise<IteratorResult<Buffer>> {
      body.destroy()
      return { value: undefined, done: true }
    },
  }
}
