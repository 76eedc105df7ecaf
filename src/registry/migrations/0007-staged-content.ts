import type { Kysely, Migration } from 'kysely'

/**
 * `staged_content`: which coordinator replica (by its internal URL) holds a DAG in its
 * staging repo, so a node attached to another replica can fetch it from there.
 */
export function migration0007(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('staged_content')
        .addColumn('cid', 'text', (c) => c.notNull())
        .addColumn('replica_url', 'text', (c) => c.notNull())
        .addColumn('staged_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('staged_content_pk', ['cid', 'replica_url'])
        .execute()
    },
  }
}
