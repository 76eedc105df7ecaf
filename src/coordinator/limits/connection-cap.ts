import type { Server } from 'node:http'
import type { Socket } from 'node:net'

/** Per-address connection accounting; see {@link createConnectionCap}. */
export interface ConnectionCap {
  /** True when `socket` was opened while its address already had `max` connections. */
  isOver(socket: Socket): boolean
}

/** How long a connection over the cap may stay open to receive its 429. */
const OVER_CAP_GRACE_MS = 5000

/**
 * Counts open connections per remote address on `server`. A connection beyond `max` for its
 * address is not refused at accept (the client would see a bare reset): it is marked, its
 * first request is answered 429 ERR_TOO_MANY_CONNECTIONS with `Connection: close` by the
 * caller (see {@link ConnectionCap.isOver}), and it is destroyed after a short grace if it
 * sends nothing. So one address holds at most `max` connections doing work. `max` = 0: no cap.
 */
export function createConnectionCap(server: Server, max: number): ConnectionCap {
  const open = new Map<string, number>()
  const over = new WeakSet<Socket>()
  if (max > 0) {
    server.prependListener('connection', (socket: Socket) => {
      const address = socket.remoteAddress ?? ''
      const count = (open.get(address) ?? 0) + 1
      if (count > max) {
        over.add(socket)
        socket.setTimeout(OVER_CAP_GRACE_MS, () => socket.destroy())
        return
      }
      open.set(address, count)
      socket.once('close', () => {
        const left = (open.get(address) ?? 1) - 1
        if (left <= 0) open.delete(address)
        else open.set(address, left)
      })
    })
  }
  return { isOver: (socket) => over.has(socket) }
}
