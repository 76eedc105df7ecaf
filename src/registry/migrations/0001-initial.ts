import { type ColumnDefinitionBuilder, type Kysely, type Migration, sql } from 'kysely'
import type { DialectName } from '../db.ts'

/**
 * The initial schema. See `schema.ts` for column conventions. Index choices:
 * - `entries (account_id, parent_id, name, mtime)`: path resolution is one indexed probe
 *   per segment and the newest version of a name is the last index entry.
 * - partial unique indexes keep one root per account and one directory per name.
 */
export function migration0001(dialect: DialectName): Migration {
  // A never-reused, increasing integer key (SQLite AUTOINCREMENT never reuses a deleted maximum).
  const serial = dialect === 'postgres' ? 'bigserial' : 'integer'
  const serialKey = (c: ColumnDefinitionBuilder) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement())
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('accounts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('email_normalized', 'text', (c) => c.notNull().unique())
        .addColumn('password_hash', 'text')
        .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('user', 'admin')`))
        .addColumn('quota_storage_bytes', 'bigint')
        .addColumn('quota_upload_bytes', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .execute()

      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .execute()
      await db.schema.createIndex('api_keys_account').on('api_keys').columns(['account_id', 'created_at']).execute()

      await db.schema
        .createTable('entries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addColumn('parent_id', 'text', (c) => c.references('entries.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('directory', 'folder', 'file')`))
        .addColumn('cid', 'text')
        .addColumn('size', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('mtime', 'bigint', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addCheckConstraint('entries_cid_kind', sql`(kind = 'directory') = (cid is null)`)
        .execute()
      await db.schema
        .createIndex('entries_path')
        .on('entries')
        .columns(['account_id', 'parent_id', 'name', 'mtime'])
        .execute()
      await db.schema
        .createIndex('entries_version')
        .on('entries')
        .columns(['account_id', 'parent_id', 'name', 'version'])
        .unique()
        .execute()
      await db.schema
        .createIndex('entries_one_directory')
        .on('entries')
        .columns(['account_id', 'parent_id', 'name'])
        .unique()
        .where(sql.ref('kind'), '=', 'directory')
        .execute()
      await db.schema
        .createIndex('entries_one_root')
        .on('entries')
        .column('account_id')
        .unique()
        .where(sql.ref('parent_id'), 'is', null)
        .execute()
      await db.schema.createIndex('entries_parent').on('entries').column('parent_id').execute()
      await db.schema.createIndex('entries_cid').on('entries').columns(['account_id', 'cid']).execute()

      await db.schema
        .createTable('pins')
        .addColumn('cid', 'text', (c) => c.primaryKey())
        .addColumn('replication_min', 'integer', (c) => c.notNull())
        .addColumn('replication_max', 'integer', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('metadata', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('size', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute()

      await db.schema
        .createTable('pin_refs')
        .addColumn('cid', 'text', (c) => c.notNull().references('pins.cid'))
        .addColumn('ref_kind', 'text', (c) => c.notNull())
        .addColumn('ref_id', 'text', (c) => c.notNull())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('pin_refs_pk', ['ref_kind', 'ref_id', 'cid'])
        .execute()
      await db.schema.createIndex('pin_refs_cid').on('pin_refs').column('cid').execute()
      await db.schema.createIndex('pin_refs_account').on('pin_refs').columns(['account_id', 'cid']).execute()

      await db.schema
        .createTable('pin_requests')
        .addColumn('requestid', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addColumn('cid', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('meta', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('origins', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema
        .createIndex('pin_requests_created')
        .on('pin_requests')
        .columns(['account_id', 'created_at'])
        .unique()
        .execute()
      await db.schema.createIndex('pin_requests_cid').on('pin_requests').columns(['account_id', 'cid']).execute()

      await db.schema
        .createTable('uploads')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('stage', 'text')
        .addColumn('reason', 'text')
        .addColumn('target_path', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('bytes', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('cid', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema.createIndex('uploads_account').on('uploads').columns(['account_id', 'created_at']).execute()
      await db.schema.createIndex('uploads_status').on('uploads').column('status').execute()

      await db.schema
        .createTable('usage_records')
        .addColumn('id', serial, serialKey)
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('amount', 'double precision', (c) => c.notNull())
        .addColumn('ts', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema.createIndex('usage_account_ts').on('usage_records').columns(['account_id', 'ts']).execute()

      await db.schema
        .createTable('nodes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('tags', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('address', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('capacity', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('last_seen', 'bigint')
        .addColumn('revoked', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()

      await db.schema
        .createTable('allocations')
        .addColumn('cid', 'text', (c) => c.notNull())
        .addColumn('node_id', 'text', (c) => c.notNull().references('nodes.id').onDelete('cascade'))
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('reason', 'text')
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('allocations_pk', ['cid', 'node_id'])
        .execute()
      await db.schema.createIndex('allocations_node').on('allocations').columns(['node_id', 'status']).execute()

      await db.schema
        .createTable('changes')
        .addColumn('seq', serial, serialKey)
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('cid', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('ts', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema.createIndex('changes_node_seq').on('changes').columns(['node_id', 'seq']).execute()
    },
  }
}
