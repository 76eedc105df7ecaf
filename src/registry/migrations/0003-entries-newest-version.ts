import type { Kysely, Migration } from 'kysely'

/**
 * Path lookups ask for the newest version of a name: `order by mtime desc, version desc
 * limit 1`. With `version` in the index the answer is its first row; before, every lookup
 * sorted the matching rows in a temporary B-tree (measured as the largest cost of a stat
 * by path with a million entries). Replaces `entries_path`, which this index covers.
 */
export function migration0003(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createIndex('entries_path_newest')
        .on('entries')
        .columns(['account_id', 'parent_id', 'name', 'mtime', 'version'])
        .execute()
      await db.schema.dropIndex('entries_path').execute()
    },
  }
}
