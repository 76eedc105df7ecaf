import pg from 'pg'
import type { Logger } from 'pino'

/**
 * Which coordinator replica on one registry runs the cluster-wide passes (placement,
 * reconcile, marking silent nodes down). Every replica serves HTTP and node sessions.
 *
 * PostgreSQL: the leader is the replica holding a session advisory lock on one dedicated
 * connection. The server releases the lock when that connection ends, so a replica that
 * dies (or loses the database) loses leadership with it, and another takes the lock on its
 * next try (every `retryMs`). The leader re-checks its connection as often; a failed check
 * ends its leadership at once. SQLite: one process, always the leader.
 *
 * Listeners run on every change, in order, never concurrently with each other.
 */
export interface LeaderElection {
  readonly isLeader: boolean
  /** Called with the new state whenever it changes. */
  onChange(listener: (leader: boolean) => void): void
  start(): void
  /** Releases the lock (closing its connection). Idempotent. */
  close(): Promise<void>
}

export interface LeaderElectionOptions {
  logger: Logger
  /** Between tries while a follower, and between connection checks while the leader (default 1000). */
  retryMs?: number
}

/** An arbitrary constant: advisory locks are per database, so it names "the leader" of one registry. */
const LEADER_LOCK_KEY = 7_362_914_051
const QUERY_TIMEOUT_MS = 3000

/** The single process of a SQLite registry: leader from the start. */
export function soleLeader(): LeaderElection {
  return { isLeader: true, onChange: () => undefined, start: () => undefined, close: async () => undefined }
}

/** Leader election over a PostgreSQL advisory lock (see LeaderElection). */
export function postgresLeaderElection(url: string, options: LeaderElectionOptions): LeaderElection {
  const log = options.logger
  const retryMs = options.retryMs ?? 1000
  const listeners: ((leader: boolean) => void)[] = []
  let leader = false
  let client: pg.Client | undefined
  let timer: NodeJS.Timeout | undefined
  let closed = false
  let started = false

  const setLeader = (next: boolean) => {
    if (next === leader) return
    leader = next
    log.info({ leader }, leader ? 'this replica is now the leader' : 'this replica is no longer the leader')
    for (const listener of listeners) listener(leader)
  }
  const drop = (why: unknown) => {
    if (client === undefined) return
    if (leader) log.warn({ err: why }, 'lost the leader lock connection')
    setLeader(false)
    const old = client
    client = undefined
    old.end().catch(() => undefined)
  }
  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({ connectionString: url, query_timeout: QUERY_TIMEOUT_MS, connectionTimeoutMillis: QUERY_TIMEOUT_MS, keepAlive: true })
    c.on('error', (error) => {
      if (client === c) drop(error)
    })
    c.on('end', () => {
      if (client === c) drop(new Error('connection ended'))
    })
    await c.connect()
    return c
  }
  const round = async () => {
    if (client === undefined) client = await connect()
    const c = client
    if (leader) {
      await c.query('select 1')
      return
    }
    const result = await c.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [LEADER_LOCK_KEY])
    if (closed) return
    if (client === c && result.rows[0]?.ok === true) setLeader(true)
  }
  const schedule = () => {
    if (closed) return
    timer = setTimeout(() => {
      round()
        .catch((error: unknown) => drop(error))
        .finally(schedule)
    }, retryMs)
    timer.unref()
  }

  return {
    get isLeader() {
      return leader
    },
    onChange(listener) {
      listeners.push(listener)
    },
    start() {
      if (started || closed) return
      started = true
      round()
        .catch((error: unknown) => drop(error))
        .finally(schedule)
    },
    async close() {
      closed = true
      clearTimeout(timer)
      const c = client
      client = undefined
      setLeader(false)
      await c?.end().catch(() => undefined)
    },
  }
}
