import type { Kysely, Migration } from 'kysely'

/**
 * Portal sessions (`sessions`): one row per signed-in browser, holding the SHA-256 of its
 * current refresh token (`pfr_…`) and of the one it replaced (honoured for a short grace so
 * two tabs renewing at once do not end the session). `created_at` is the sign-in time: a
 * session begun before `accounts.tokens_valid_after` is refused, so everything that ends
 * access tokens ends sessions too.
 */
export function migration0008(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('previous_hash', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('rotated_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema.createIndex('sessions_previous_hash').on('sessions').column('previous_hash').execute()
      await db.schema.createIndex('sessions_account').on('sessions').columns(['account_id', 'expires_at']).execute()
    },
  }
}
