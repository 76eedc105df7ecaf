import type { Logger } from 'pino'
import type { Registry } from '../registry/index.ts'

/** A replica silent this long is dead: its unfinished uploads may be failed by another. */
export const REPLICA_LEASE_MS = 15_000

/**
 * This coordinator replica's entry in the registry: its id (fresh per process) and a lease
 * renewed every third of `REPLICA_LEASE_MS` while the process lives. After each renewal
 * `afterRenew` runs (sweeps of what dead replicas left); its failures are logged. A clean
 * `close` removes the entry at once.
 */
export interface ReplicaLease {
  readonly id: string
  /** Records the lease now, then keeps renewing it. */
  start(afterRenew?: () => Promise<unknown>): Promise<void>
  /** Records the replica's internal URL (where other replicas' nodes fetch what it staged), now and with every renewal. */
  setUrl(url: string): Promise<void>
  close(): Promise<void>
}

export function createReplicaLease(registry: Registry, id: string, logger: Logger): ReplicaLease {
  let timer: NodeJS.Timeout | undefined
  let url: string | null = null
  return {
    id,
    async start(afterRenew) {
      await registry.replicas.renew(id, REPLICA_LEASE_MS)
      timer = setInterval(() => {
        registry.replicas
          .renew(id, REPLICA_LEASE_MS, url)
          .then(() => afterRenew?.())
          .catch((error: unknown) => logger.warn({ err: error }, 'could not renew the replica lease'))
      }, REPLICA_LEASE_MS / 3)
      timer.unref()
    },
    async setUrl(next) {
      url = next
      await registry.replicas.renew(id, REPLICA_LEASE_MS, url)
    },
    async close() {
      clearInterval(timer)
      await registry.replicas.remove(id).catch(() => undefined)
    },
  }
}
