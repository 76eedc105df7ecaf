import type { DatabaseSync, StatementSync } from 'node:sqlite'
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  SqliteDialect,
  type SqliteDatabase,
  SqliteDriver,
  type SqliteStatement,
} from 'kysely'

/** node:sqlite cannot bind booleans or undefined; Kysely may pass both. */
function bindable(parameters: ReadonlyArray<unknown>): Array<null | number | bigint | string | Uint8Array> {
  return parameters.map((p) => {
    if (p === undefined) return null
    if (typeof p === 'boolean') return p ? 1 : 0
    return p as null | number | bigint | string | Uint8Array
  })
}

/**
 * Adapts a built-in `node:sqlite` {@link DatabaseSync} to the better-sqlite3-like
 * interface Kysely's SQLite driver expects. Prepared statements are cached (bounded
 * LRU) so hot queries such as path lookups are compiled once.
 */
export class NodeSqliteDatabase implements SqliteDatabase {
  readonly #db: DatabaseSync
  readonly #cache = new Map<string, SqliteStatement>()
  readonly #maxCached: number

  constructor(db: DatabaseSync, options: { maxCachedStatements?: number } = {}) {
    this.#db = db
    this.#maxCached = options.maxCachedStatements ?? 256
  }

  close(): void {
    this.#cache.clear()
    this.#db.close()
  }

  prepare(sql: string): SqliteStatement {
    const cached = this.#cache.get(sql)
    if (cached !== undefined) {
      // refresh LRU position
      this.#cache.delete(sql)
      this.#cache.set(sql, cached)
      return cached
    }
    const stmt: StatementSync = this.#db.prepare(sql)
    const wrapped: SqliteStatement = {
      reader: stmt.columns().length > 0,
      all: (parameters) => stmt.all(...bindable(parameters)),
      run: (parameters) => stmt.run(...bindable(parameters)),
      iterate: (parameters) => stmt.iterate(...bindable(parameters)),
    }
    this.#cache.set(sql, wrapped)
    if (this.#cache.size > this.#maxCached) {
      const oldest = this.#cache.keys().next().value
      if (oldest !== undefined) this.#cache.delete(oldest)
    }
    return wrapped
  }
}

/**
 * Kysely's SQLite driver, except that transactions start with `BEGIN IMMEDIATE`: the write
 * lock is taken up front, so two processes sharing a database file never deadlock on a
 * read→write upgrade (they wait `busy_timeout` instead).
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'))
  }
}

/** Kysely dialect over `node:sqlite`. */
export class NodeSqliteDialect extends SqliteDialect {
  readonly #db: SqliteDatabase

  constructor(db: DatabaseSync) {
    const database = new NodeSqliteDatabase(db)
    super({ database })
    this.#db = database
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver({ database: this.#db })
  }
}
