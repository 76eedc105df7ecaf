import type { IncomingMessage, ServerResponse } from 'node:http'

/** How long request bodies may take; see {@link createBodyDeadlines}. */
export interface BodyDeadlineOptions {
  /** 0 = off. */
  timeoutMs: number
  /** Bodies that may legitimately take long (uploads): cut only when no byte arrives for `timeoutMs`. */
  isUploadBody(req: IncomingMessage): boolean
}

/** Watches request bodies until they are complete; see {@link createBodyDeadlines}. */
export interface BodyDeadlines {
  /** Starts watching one request's body (a request without a body is ignored). */
  watch(req: IncomingMessage, res: ServerResponse): void
  /** Stops the watch timer. Idempotent. */
  close(): void
}

interface Watched {
  req: IncomingMessage
  res: ServerResponse
  upload: boolean
  startedAt: number
  bytesRead: number
  progressAt: number
}

const TIMEOUT_BODY = JSON.stringify({ error: { code: 'ERR_BODY_TIMEOUT', message: 'the request body did not arrive in time' } })

/**
 * Cuts clients that drip a request body to hold a connection and the work behind it. An
 * ordinary body (JSON) must be complete within `timeoutMs` of the request's start; an upload
 * body must keep arriving: it is cut once `timeoutMs` pass without a byte read from the
 * client. Time the server itself spends not reading (backpressure: bytes are waiting in its
 * buffers) never counts against the client. A cut request is answered 408 ERR_BODY_TIMEOUT
 * when nothing was sent yet, and its connection is closed either way, so whatever consumes
 * the body sees it abort (an upload is then recorded as failed, as for a disconnect).
 * One timer for all requests, ticking at a quarter of the timeout (at most once a second).
 */
export function createBodyDeadlines(options: BodyDeadlineOptions): BodyDeadlines {
  const watched = new Set<Watched>()
  const tickMs = Math.max(50, Math.min(1000, Math.floor(options.timeoutMs / 4)))
  let timer: NodeJS.Timeout | undefined
  const tick = () => {
    const now = Date.now()
    for (const entry of watched) {
      if (entry.req.complete || entry.req.destroyed) watched.delete(entry)
      else if (overdue(entry, now, options.timeoutMs)) {
        watched.delete(entry)
        cut(entry)
      }
    }
    if (watched.size === 0 && timer !== undefined) {
      clearInterval(timer)
      timer = undefined
    }
  }
  return {
    watch(req, res) {
      if (options.timeoutMs === 0 || !hasBody(req) || req.complete) return
      const now = Date.now()
      watched.add({ req, res, upload: options.isUploadBody(req), startedAt: now, bytesRead: req.socket.bytesRead, progressAt: now })
      timer ??= setInterval(tick, tickMs).unref()
    },
    close() {
      if (timer !== undefined) clearInterval(timer)
      timer = undefined
      watched.clear()
    },
  }
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0
}

function overdue(entry: Watched, now: number, timeoutMs: number): boolean {
  if (!entry.upload) return now - entry.startedAt > timeoutMs
  const socket = entry.req.socket
  // bytes waiting in our buffers: the server is not reading, the client is not at fault
  if (socket.bytesRead !== entry.bytesRead || entry.req.readableLength > 0 || socket.readableLength > 0) {
    entry.bytesRead = socket.bytesRead
    entry.progressAt = now
    return false
  }
  return now - entry.progressAt > timeoutMs
}

/** Answers 408 on the socket itself (the route may still own `res`) and closes the connection. */
function cut(entry: Watched): void {
  const socket = entry.req.socket
  if (!entry.res.headersSent && socket.writable) {
    socket.end(
      `HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(TIMEOUT_BODY)}\r\nConnection: close\r\n\r\n${TIMEOUT_BODY}`,
    )
    setTimeout(() => socket.destroy(), 1000).unref()
  } else {
    socket.destroy()
  }
}
