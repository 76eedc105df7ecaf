import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely'
import pg from 'pg'
import type { Logger } from 'pino'
import { PinfoldError } from '../core/errors.ts'

export const REGISTRY_UNAVAILABLE = 'ERR_REGISTRY_UNAVAILABLE'

/** Socket-level failures: the server is down, restarting or unreachable. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])
/** SQLSTATEs of a server going away or not yet accepting (admin/crash shutdown, starting up, too many clients). */
const SERVER_GONE_STATES = new Set(['57P01', '57P02', '57P03', '53300'])
/** What pg itself says when a connection died under it or could not be had in time. */
const PG_CONNECTION_MESSAGES = /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|Connection terminated unexpectedly)/

/** True when `err` says the database cannot be reached now (as opposed to a bad query). */
export function isConnectionFailure(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown }
  if (typeof e?.code === 'string' && (NETWORK_CODES.has(e.code) || SERVER_GONE_STATES.has(e.code) || e.code.startsWith('08'))) return true
  return typeof e?.message === 'string' && PG_CONNECTION_MESSAGES.test(e.message)
}

/** True for the registry's own "unreachable" error, and for the raw failures it stands for. */
export function isRegistryUnavailable(err: unknown): boolean {
  return (err instanceof PinfoldError && err.code === REGISTRY_UNAVAILABLE) || isConnectionFailure(err)
}

function unavailable(err: unknown): unknown {
  if (!isConnectionFailure(err)) return err
  return new PinfoldError(REGISTRY_UNAVAILABLE, `registry database not reachable: ${(err as Error).message || String(err)}`, { cause: err })
}

export interface PostgresPoolOptions {
  max: number
  types: pg.CustomTypesConfig
  logger?: Logger
}

/**
 * A pg pool for Kysely that survives the server restarting: every client keeps an
 * `'error'` listener for its whole life (pg only guards idle clients, and an error on a
 * checked-out one would otherwise be an uncaught exception), a broken client is dropped
 * by the pool at release (pg checks `_queryable`) so the next query opens a fresh
 * connection, and connection failures become `ERR_REGISTRY_UNAVAILABLE` (503) instead
 * of whatever pg or the socket threw. Connects time out, so a silent server cannot hold
 * requests for ever.
 */
export function createPostgresPool(connectionString: string, options: PostgresPoolOptions): PostgresPool {
  const pool = new pg.Pool({ connectionString, max: options.max, types: options.types, connectionTimeoutMillis: 10_000 })
  const log = options.logger
  // an idle client's error reaches both; the client's own listener logs it
  pool.on('error', () => undefined)
  pool.on('connect', (client) => {
    client.on('error', (err) => log?.warn({ err }, 'registry connection failed'))
  })
  const wrapped = new WeakMap<pg.PoolClient, PostgresPoolClient>()
  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    let view = wrapped.get(client)
    if (view === undefined) {
      view = {
        query: (<R>(sqlText: string, parameters: ReadonlyArray<unknown>) =>
          client.query(sqlText, parameters as unknown[]).then(
            (result) => result as unknown as PostgresQueryResult<R>,
            (err: unknown) => Promise.reject(unavailable(err)),
          )) as PostgresPoolClient['query'],
        release: () => client.release(),
      }
      wrapped.set(client, view)
    }
    return view
  }
  return {
    connect: () => pool.connect().then(wrap, (err: unknown) => Promise.reject(unavailable(err))),
    end: () => pool.end(),
  }
}
