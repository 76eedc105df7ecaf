import type { Kysely, Migration } from 'kysely'

/**
 * Cluster state of a storage node kept on its row: `cursor` (the highest change-feed seq the
 * node acknowledged, so any coordinator replica resumes its feed), `info` (the node's last
 * report as JSON: storage paths, pin and queue counts, version) and `draining` (admin asked
 * the node's pins to move elsewhere).
 */
export function migration0002(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('nodes').addColumn('cursor', 'bigint', (c) => c.notNull().defaultTo(0)).execute()
      await db.schema.alterTable('nodes').addColumn('info', 'text', (c) => c.notNull().defaultTo('{}')).execute()
      await db.schema.alterTable('nodes').addColumn('draining', 'integer', (c) => c.notNull().defaultTo(0)).execute()
    },
  }
}
