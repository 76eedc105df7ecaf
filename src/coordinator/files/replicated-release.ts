import type { Logger } from 'pino'
import type { Notifications } from '../../registry/index.ts'
import type { ContentReleaser } from './release-content.ts'

/**
 * A releaser that releases everywhere: a CID released through one replica is unpinned from
 * its own origin repo at once and, by a `release` notification naming the sender, from every
 * other replica's (each re-checks the registry before collecting, so a CID referenced again
 * meanwhile is kept). A replica that misses the notice keeps the blocks: space, never data.
 */
export function replicateReleases(local: ContentReleaser, notifications: Notifications, replicaId: string, logger: Logger): ContentReleaser {
  notifications.subscribe('release', (payload) => {
    const [from, cid] = payload.split(' ')
    if (from === replicaId || cid === undefined) return
    local.release([cid]).catch((error: unknown) => logger.warn({ err: error, cid }, 'could not release content another replica released'))
  })
  return {
    async release(cids) {
      await local.release(cids)
      for (const cid of cids) {
        await notifications
          .publish('release', `${replicaId} ${cid}`)
          .catch((error: unknown) => logger.warn({ err: error, cid }, 'could not tell other replicas of a release'))
      }
    },
    unstage: (cids) => local.unstage(cids),
    collectNow: () => local.collectNow(),
    close: () => local.close(),
  }
}
