import type { Kysely, Migration } from 'kysely'

/**
 * State that several coordinator replicas on one database share:
 * - `coordinator_secrets`: the token secret, the coordinator signing key and the cluster
 *   secret, so every replica signs and verifies the same tokens (the first to start
 *   generates them; configured values win and are never stored).
 * - `coordinator_replicas`: each running replica's id and lease (renewed while it lives).
 * - `uploads.owner_id`: the replica receiving an upload; a starting replica fails only the
 *   unfinished uploads whose owner's lease has expired.
 */
export function migration0006(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('coordinator_secrets')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('coordinator_replicas')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('url', 'text')
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('lease_expires_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema.alterTable('uploads').addColumn('owner_id', 'text').execute()
    },
  }
}
