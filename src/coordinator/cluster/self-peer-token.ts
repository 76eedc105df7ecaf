import { issuePeerToken } from '../../cluster/index.ts'
import type { CoordinatorKey } from './cluster-keys.ts'

/** Lifetime of the peer token the coordinator signs for its own requests to nodes. */
const TTL_SECONDS = 600

/**
 * The coordinator's own peer token (subject `coordinator`) for reads and challenges it sends
 * to storage nodes: signed once and reused until half its lifetime has passed, so a busy read
 * path signs about once every five minutes. Safe to call concurrently.
 */
export function selfPeerToken(key: CoordinatorKey): () => Promise<string> {
  let current: { token: Promise<string>; renewAt: number } | undefined
  return () => {
    if (current === undefined || Date.now() >= current.renewAt) {
      const token = issuePeerToken(key.privateKey, 'coordinator', TTL_SECONDS).then((issued) => issued.token)
      current = { token, renewAt: Date.now() + (TTL_SECONDS * 1000) / 2 }
      token.catch(() => {
        current = undefined
      })
    }
    return current.token
  }
}
