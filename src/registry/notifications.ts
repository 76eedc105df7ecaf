import { sql } from 'kysely'
import pg from 'pg'
import type { Logger } from 'pino'
import { type Db, type Executor, parseRegistryUrl, type RegistryContext } from './db.ts'

/**
 * What replicas tell each other:
 * - `feed`: the change feed of node `<payload>` moved (sent by the transaction that wrote it);
 * - `reconcile`: pin `<payload>` needs the leader's attention (new reference, status report, ingest);
 * - `event`: a live event (JSON) for the subscribers of every replica;
 * - `release`: `<replica id> <cid>`: content released through that replica, to drop from every staging repo.
 */
export type NotificationTopic = 'feed' | 'reconcile' | 'event' | 'release'

const TOPICS: readonly NotificationTopic[] = ['feed', 'reconcile', 'event', 'release']
/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
export const MAX_NOTIFICATION_BYTES = 7900

/**
 * Cross-replica notification. PostgreSQL: LISTEN/NOTIFY, one dedicated listening connection
 * per replica that reconnects with backoff; a notification sent inside a transaction is
 * delivered only if and when it commits. SQLite (one process): an in-process bus.
 *
 * Delivery is at most once, to every replica including the sender, in the order each
 * sender's notifications committed. Notifications sent while a replica's listening
 * connection was down are lost to it: `onReconnect` listeners run after every reconnect
 * so they can catch up from the registry (the state is there; a notification is only a
 * wake-up). Listeners must not throw; they run synchronously on delivery.
 */
export interface Notifications {
  /** Sends `payload` to every replica now (outside any transaction). Rejects when the database is unreachable. */
  publish(topic: NotificationTopic, payload: string): Promise<void>
  subscribe(topic: NotificationTopic, listener: (payload: string) => void): void
  onReconnect(listener: () => void): void
  /** Starts listening (PostgreSQL: connects, then keeps reconnecting). */
  start(): void
  close(): Promise<void>
}

/**
 * Sends a notification as part of transaction `trx`: delivered if it commits. Only PostgreSQL
 * has a commit-bound channel; on SQLite the single process learns of its own writes directly.
 */
export async function notifyInTransaction(trx: Executor, ctx: RegistryContext, topic: NotificationTopic, payload: string): Promise<void> {
  if (ctx.dialect === 'postgres') await sql`select pg_notify(${channel(topic)}, ${payload})`.execute(trx)
}

function channel(topic: NotificationTopic): string {
  return `pinfold_${topic}`
}

type Listeners = Map<NotificationTopic, ((payload: string) => void)[]>

function deliver(listeners: Listeners, topic: NotificationTopic, payload: string, log: Logger | undefined): void {
  for (const listener of listeners.get(topic) ?? []) {
    try {
      listener(payload)
    } catch (error) {
      log?.warn({ err: error, topic }, 'notification listener failed')
    }
  }
}

/** Notifications for the registry at `url` whose queries run on `db`. */
export function openNotifications(url: string, db: Db, logger: Logger): Notifications {
  const parsed = parseRegistryUrl(url)
  return parsed.dialect === 'postgres' ? postgresNotifications(parsed.url, { db, logger }) : inProcessNotifications(logger)
}

/** The single process of a SQLite registry: publishing delivers at once, in process. */
export function inProcessNotifications(logger?: Logger): Notifications {
  const listeners: Listeners = new Map()
  return {
    async publish(topic, payload) {
      deliver(listeners, topic, payload, logger)
    },
    subscribe(topic, listener) {
      listeners.set(topic, [...(listeners.get(topic) ?? []), listener])
    },
    onReconnect: () => undefined,
    start: () => undefined,
    close: async () => undefined,
  }
}

export interface PostgresNotificationsOptions {
  /** Publishes go through the registry's pool. */
  db: Db
  logger: Logger
  /** First reconnect delay, doubled up to 5 s (default 250 ms). */
  retryMs?: number
}

const CONNECT_TIMEOUT_MS = 3000
const MAX_RETRY_MS = 5000

/** LISTEN/NOTIFY on database `url` (see Notifications). */
export function postgresNotifications(url: string, options: PostgresNotificationsOptions): Notifications {
  const log = options.logger
  const listeners: Listeners = new Map()
  const reconnectListeners: (() => void)[] = []
  const firstRetry = options.retryMs ?? 250
  let client: pg.Client | undefined
  let timer: NodeJS.Timeout | undefined
  let retry = firstRetry
  let closed = false
  let connectedOnce = false

  const scheduleConnect = () => {
    if (closed || timer !== undefined) return
    timer = setTimeout(() => {
      timer = undefined
      void connect()
    }, retry)
    timer.unref()
    retry = Math.min(retry * 2, MAX_RETRY_MS)
  }
  const lost = (c: pg.Client, why: unknown) => {
    if (client !== c) return
    client = undefined
    log.warn({ err: why }, 'notification connection lost; reconnecting')
    c.end().catch(() => undefined)
    scheduleConnect()
  }
  const connect = async () => {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true })
    c.on('error', (error) => lost(c, error))
    c.on('end', () => lost(c, new Error('connection ended')))
    c.on('notification', (message) => {
      const topic = TOPICS.find((t) => channel(t) === message.channel)
      if (topic !== undefined) deliver(listeners, topic, message.payload ?? '', log)
    })
    try {
      client = c
      await c.connect()
      for (const topic of TOPICS) await c.query(`listen ${channel(topic)}`)
      if (closed) {
        await c.end()
        return
      }
      retry = firstRetry
      if (connectedOnce) log.info('notification connection back')
      const again = connectedOnce
      connectedOnce = true
      // what was sent while not listening is lost: listeners catch up from the registry
      if (again) for (const listener of reconnectListeners) listener()
    } catch (error) {
      lost(c, error)
    }
  }

  return {
    async publish(topic, payload) {
      await sql`select pg_notify(${channel(topic)}, ${payload})`.execute(options.db)
    },
    subscribe(topic, listener) {
      listeners.set(topic, [...(listeners.get(topic) ?? []), listener])
    },
    onReconnect(listener) {
      reconnectListeners.push(listener)
    },
    start() {
      if (client === undefined && timer === undefined && !closed) void connect()
    },
    async close() {
      closed = true
      clearTimeout(timer)
      const c = client
      client = undefined
      await c?.end().catch(() => undefined)
    },
  }
}
