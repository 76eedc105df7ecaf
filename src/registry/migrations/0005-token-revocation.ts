import type { Kysely, Migration } from 'kysely'

/**
 * What lets a live access token be refused before it expires: `accounts.tokens_valid_after`
 * (ms; tokens issued earlier are refused — bumped on disable, role or password change and
 * sign-out everywhere) and `revoked_tokens` (one signed-out token each, kept until the
 * token's own expiry, after which it is refused anyway).
 */
export function migration0005(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('accounts').addColumn('tokens_valid_after', 'bigint', (c) => c.notNull().defaultTo(0)).execute()
      await db.schema
        .createTable('revoked_tokens')
        .addColumn('token_id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema.createIndex('revoked_tokens_account').on('revoked_tokens').columns(['account_id', 'expires_at']).execute()
    },
  }
}
