import { randomUUID } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { Kysely, type Migration, type MigrationProvider, Migrator, PostgresDialect, type Transaction } from 'kysely'
import pg from 'pg'
import type { Logger } from 'pino'
import { PinfoldError } from '../core/errors.ts'
import { migration0001 } from './migrations/0001-initial.ts'
import { migration0002 } from './migrations/0002-node-cluster-state.ts'
import { migration0003 } from './migrations/0003-entries-newest-version.ts'
import { migration0004 } from './migrations/0004-node-ingest-account.ts'
import { migration0005 } from './migrations/0005-token-revocation.ts'
import { createPostgresPool, isRegistryUnavailable } from './postgres-pool.ts'
import { migration0006 } from './migrations/0006-coordinator-replicas.ts'
import { migration0007 } from './migrations/0007-staged-content.ts'
import { migration0008 } from './migrations/0008-sessions.ts'
import type { RegistrySchema } from './schema.ts'
import { NodeSqliteDialect } from './sqlite-dialect.ts'

export type DialectName = 'sqlite' | 'postgres'
export type Db = Kysely<RegistrySchema>
/** A database handle or an open transaction; every query helper accepts either. */
export type Executor = Kysely<RegistrySchema> | Transaction<RegistrySchema>

/** What every aggregate module receives: the database and which dialect it speaks. */
export interface RegistryContext {
  readonly db: Db
  readonly dialect: DialectName
  readonly logger?: Logger
  /** The coordinator replica using this registry (recorded as the owner of the uploads it creates). */
  readonly replicaId?: string
  /** This replica's internal URL once it listens: recorded as the stager of content it references. */
  readonly stagingUrl?: () => string | undefined
}

/** Ordered migrations; names sort lexically and are never renamed once released. */
export function migrations(dialect: DialectName): Record<string, Migration> {
  return {
    '0001-initial': migration0001(dialect),
    '0002-node-cluster-state': migration0002(),
    '0003-entries-newest-version': migration0003(),
    '0004-node-ingest-account': migration0004(),
    '0005-token-revocation': migration0005(),
    '0006-coordinator-replicas': migration0006(),
    '0007-staged-content': migration0007(),
    '0008-sessions': migration0008(),
  }
}

export interface OpenDbOptions {
  logger?: Logger
  /** PostgreSQL pool size (default 10). */
  maxConnections?: number
  /** SQLite busy timeout in milliseconds (default 5000). */
  busyTimeoutMs?: number
  /** Called after every query with its duration (for metrics). */
  onQuery?: (durationMs: number) => void
}

/** Parses `sqlite:PATH`, `sqlite::memory:` or `postgres://…` / `postgresql://…`. */
export function parseRegistryUrl(url: string): { dialect: 'sqlite'; path: string } | { dialect: 'postgres'; url: string } {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length)
    if (path === '') throw new PinfoldError('ERR_INVALID_OPTION', 'registry URL sqlite: needs a path', { userError: true })
    return { dialect: 'sqlite', path }
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return { dialect: 'postgres', url }
  throw new PinfoldError(
    'ERR_INVALID_OPTION',
    `registry URL must be sqlite:PATH, sqlite::memory: or postgres://…, got ${JSON.stringify(url.slice(0, 100))}`,
    { userError: true },
  )
}

const INT8_OID = 20
const NUMERIC_OID = 1700
/** int8/numeric as JS numbers: sizes, timestamps and counts stay below 2^53. */
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (v: string) => Number(v)
    return pg.types.getTypeParser(oid, format ?? 'text')
  },
}

/** Opens the database (without migrating). */
export function openDb(url: string, options: OpenDbOptions = {}): RegistryContext {
  const parsed = parseRegistryUrl(url)
  const log = options.logger
  const onQuery = options.onQuery
  const kyselyLog =
    log || onQuery
    ? (event: { level: string; queryDurationMillis: number; query: { sql: string }; error?: unknown }) => {
        onQuery?.(event.queryDurationMillis)
        if (log === undefined) return
        if (event.level === 'error') log.debug({ err: event.error, sql: event.query.sql }, 'registry query failed')
        else if (event.queryDurationMillis > 200)
          log.warn({ ms: event.queryDurationMillis, sql: event.query.sql }, 'slow registry query')
      }
    : undefined
  if (parsed.dialect === 'sqlite') {
    const path = parsed.path === ':memory:' ? ':memory:' : parsed.path
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    const sqlite = new DatabaseSync(path, { timeout: options.busyTimeoutMs ?? 5000 })
    sqlite.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`)
    if (path !== ':memory:') sqlite.exec('PRAGMA journal_mode = WAL')
    sqlite.exec('PRAGMA foreign_keys = ON')
    sqlite.exec('PRAGMA synchronous = NORMAL')
    // the default 2 MiB page cache misses on nearly every path lookup once the registry
    // holds millions of entries; pages are only taken as they are used
    sqlite.exec('PRAGMA cache_size = -262144')
    const db = new Kysely<RegistrySchema>({ dialect: new NodeSqliteDialect(sqlite), log: kyselyLog })
    return { db, dialect: 'sqlite', logger: log }
  }
  const pool = createPostgresPool(parsed.url, { max: options.maxConnections ?? 10, types: pgTypes, logger: log })
  const db = new Kysely<RegistrySchema>({ dialect: new PostgresDialect({ pool }), log: kyselyLog })
  return { db, dialect: 'postgres', logger: log }
}

/**
 * Applies every pending migration. Idempotent. Safe to call from several processes at
 * once: PostgreSQL takes Kysely's advisory migration lock; SQLite runs the migration in a
 * `BEGIN IMMEDIATE` transaction, which serialises writers.
 */
export async function migrateToLatest(ctx: RegistryContext): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(ctx.dialect) }
  const migrator = new Migrator({
    db: ctx.db,
    provider,
    migrationTableName: 'registry_migrations',
    migrationLockTableName: 'registry_migrations_lock',
  })
  const { error, results } = await migrator.migrateToLatest()
  if (error !== undefined) {
    // an unreachable database is not a failed migration: the caller may wait and retry
    if (isRegistryUnavailable(error)) throw error
    throw new PinfoldError('ERR_REGISTRY_MIGRATION', `registry migration failed: ${String(error)}`, { cause: error })
  }
  const applied = (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
  if (applied.length > 0) ctx.logger?.info({ applied }, 'registry migrations applied')
  return applied
}

/** Current time in integer milliseconds. */
export function now(): number {
  return Date.now()
}

/** A new opaque id. */
export function newId(): string {
  return randomUUID()
}

export function notFound(what: string): PinfoldError {
  return new PinfoldError('ERR_NOT_FOUND', `${what} not found`, { userError: true })
}

export function conflict(message: string, cause?: unknown): PinfoldError {
  return new PinfoldError('ERR_CONFLICT', message, { userError: true, cause })
}

export function invalidArgument(message: string): PinfoldError {
  return new PinfoldError('ERR_INVALID_ARGUMENT', message, { userError: true })
}

/** True when `err` is a unique-constraint violation on either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; errcode?: unknown }
  if (e?.code === '23505') return true // PostgreSQL unique_violation
  // node:sqlite: code ERR_SQLITE_ERROR, errcode 2067 (SQLITE_CONSTRAINT_UNIQUE) / 1555 (PRIMARYKEY)
  if (e?.errcode === 2067 || e?.errcode === 1555) return true
  return typeof e?.message === 'string' && e.message.includes('UNIQUE constraint failed')
}

/** Parses a JSON text column, tolerating corrupt values as `fallback`. */
export function parseJson<T>(text: string | null | undefined, fallback: T): T {
  if (text === null || text === undefined || text === '') return fallback
  try {
    return JSON.parse(text) as T
  } catch {
    return fallback
  }
}

/** Base64url JSON cursor used by paged listings. */
export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

export function decodeCursor(cursor: string): unknown {
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw invalidArgument('invalid cursor')
  }
}

/** Clamp a page size to [1, max], defaulting when absent. */
export function pageSize(limit: number | undefined, def: number, max: number): number {
  if (limit === undefined) return def
  if (!Number.isInteger(limit) || limit < 1) throw invalidArgument(`limit must be an integer ≥ 1, got ${limit}`)
  return Math.min(limit, max)
}
