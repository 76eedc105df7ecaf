import type { Kysely, Migration } from 'kysely'

/**
 * `ingest_account_id`: the account an admin assigned a storage node's drop-folder files to.
 * What a node names in its `ingested` frames is only a claim; without an assignment a
 * node cannot ingest at all.
 */
export function migration0004(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('nodes').addColumn('ingest_account_id', 'text').execute()
    },
  }
}
