import { sql } from 'kysely'
import type { Logger } from 'pino'
import { PinfoldError } from '../core/errors.ts'
import { Accounts } from './accounts.ts'
import { Allocations } from './allocations.ts'
import { ApiKeys } from './api-keys.ts'
import { type DialectName, type Db, migrateToLatest, openDb, type RegistryContext } from './db.ts'
import { isRegistryUnavailable, REGISTRY_UNAVAILABLE } from './postgres-pool.ts'
import { Entries } from './entries.ts'
import { Nodes } from './nodes.ts'
import { PinRequests } from './pin-requests.ts'
import { Pins } from './pins.ts'
import { Sessions } from './sessions.ts'
import { TokenRevocations } from './token-revocations.ts'
import { Replicas } from './replicas.ts'
import { SharedSecrets } from './shared-secrets.ts'
import { Staging } from './staging.ts'
import { Uploads } from './uploads.ts'
import { Usage } from './usage.ts'

export interface OpenRegistryOptions {
  logger?: Logger
  /** PostgreSQL pool size (default 10). */
  maxConnections?: number
  /** SQLite busy timeout, ms (default 5000). */
  busyTimeoutMs?: number
  /** Called after every query with its duration in ms (for metrics). */
  onQuery?: (durationMs: number) => void
  /**
   * While the database is unreachable at open (a server still starting), retry with
   * backoff for up to this long before failing with `ERR_REGISTRY_UNAVAILABLE` (default 0:
   * fail at once).
   */
  waitForDatabaseMs?: number
  /** The coordinator replica opening it: recorded as the owner of the uploads it creates. */
  replicaId?: string
  /** The replica's internal URL (once known): recorded as the stager of the content it references. */
  stagingUrl?: () => string | undefined
}

/**
 * The coordinator's registry: one object per aggregate over one database. Safe for
 * concurrent use within a process; several processes may share a PostgreSQL database
 * (or, with lower write throughput, one SQLite file).
 */
export interface Registry {
  readonly dialect: DialectName
  readonly accounts: Accounts
  readonly apiKeys: ApiKeys
  readonly entries: Entries
  readonly pins: Pins
  readonly pinRequests: PinRequests
  readonly uploads: Uploads
  readonly usage: Usage
  readonly nodes: Nodes
  readonly allocations: Allocations
  readonly tokenRevocations: TokenRevocations
  /** Portal sessions (refresh tokens). */
  readonly sessions: Sessions
  /** Secrets shared by every coordinator replica on this database. */
  readonly secrets: SharedSecrets
  /** Coordinator replicas on this database and their leases. */
  readonly replicas: Replicas
  /** Which replicas hold which staged DAGs. */
  readonly staging: Staging
  /** The underlying Kysely instance (for tests and diagnostics, not for application queries). */
  readonly db: Db
  /** Runs a trivial query; rejects when the database is unreachable (readiness checks). */
  ping(): Promise<void>
  /** Closes the pool / file. Idempotent. */
  close(): Promise<void>
}

/**
 * Opens the registry at `url` (`sqlite:PATH`, `sqlite::memory:`, `postgres://…`) and applies
 * pending migrations. Concurrent opens of one database are safe (migration lock).
 */
export async function openRegistry(url: string, options: OpenRegistryOptions = {}): Promise<Registry> {
  const ctx: RegistryContext = openDb(url, options)
  const logger = options.logger?.child({ component: 'registry' })
  const c: RegistryContext = { ...ctx, logger, replicaId: options.replicaId, stagingUrl: options.stagingUrl }
  try {
    await migrateWhenReachable(c, options.waitForDatabaseMs ?? 0)
  } catch (err) {
    await ctx.db.destroy()
    throw err
  }
  let closed: Promise<void> | undefined
  return {
    dialect: c.dialect,
    accounts: new Accounts(c),
    apiKeys: new ApiKeys(c),
    entries: new Entries(c),
    pins: new Pins(c),
    pinRequests: new PinRequests(c),
    uploads: new Uploads(c),
    usage: new Usage(c),
    nodes: new Nodes(c),
    allocations: new Allocations(c),
    tokenRevocations: new TokenRevocations(c),
    sessions: new Sessions(c),
    secrets: new SharedSecrets(c),
    replicas: new Replicas(c),
    staging: new Staging(c),
    db: c.db,
    async ping() {
      await sql`select 1`.execute(c.db)
    },
    close() {
      closed ??= c.db.destroy()
      return closed
    },
  }
}

/** Migrates, retrying with backoff (0.25 s doubling to 5 s) while the database is unreachable, for up to `waitMs`. */
async function migrateWhenReachable(ctx: RegistryContext, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs
  for (let delay = 250; ; delay = Math.min(delay * 2, 5000)) {
    try {
      await migrateToLatest(ctx)
      return
    } catch (err) {
      if (!isRegistryUnavailable(err)) throw err
      const left = deadline - Date.now()
      if (left <= 0) {
        throw new PinfoldError(REGISTRY_UNAVAILABLE, `${(err as Error).message} (gave up after ${Math.round(waitMs / 1000)} s)`, {
          userError: true,
          cause: err,
        })
      }
      ctx.logger?.warn({ err: (err as Error).message, retryInMs: Math.min(delay, left) }, 'registry not reachable yet, retrying')
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, left)))
    }
  }
}
