import { now, type RegistryContext } from './db.ts'

/**
 * Coordinator replicas sharing the registry, each with a lease it renews while it lives.
 * A replica whose lease has expired is dead: what it owned (unfinished uploads) may be
 * failed by any other. Renewals are idempotent upserts.
 */
export class Replicas {
  readonly #ctx: RegistryContext

  constructor(ctx: RegistryContext) {
    this.#ctx = ctx
  }

  /** Records (or renews) replica `id`'s lease until `leaseMs` from now. */
  async renew(id: string, leaseMs: number, url: string | null = null): Promise<void> {
    const t = now()
    await this.#ctx.db
      .insertInto('coordinator_replicas')
      .values({ id, url, started_at: t, lease_expires_at: t + leaseMs })
      .onConflict((oc) => oc.column('id').doUpdateSet({ lease_expires_at: t + leaseMs, ...(url === null ? {} : { url }) }))
      .execute()
  }

  /** Ids of replicas whose lease has not expired. */
  async alive(): Promise<string[]> {
    const rows = await this.#ctx.db.selectFrom('coordinator_replicas').select('id').where('lease_expires_at', '>', now()).execute()
    return rows.map((r) => r.id)
  }

  /** Removes every replica but `id`: for a registry only one process uses (SQLite), whose predecessors are dead. */
  async removeOthers(id: string): Promise<void> {
    await this.#ctx.db.deleteFrom('coordinator_replicas').where('id', '!=', id).execute()
  }

  /** Removes replica `id` (a clean stop) and replicas whose lease expired over a day ago. */
  async remove(id: string): Promise<void> {
    await this.#ctx.db
      .deleteFrom('coordinator_replicas')
      .where((eb) => eb.or([eb('id', '=', id), eb('lease_expires_at', '<', now() - 86_400_000)]))
      .execute()
  }
}
