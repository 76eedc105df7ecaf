import { DatabaseSync, type StatementSync } from 'node:sqlite'
import type { PinStatus, StatusEntry } from '../../cluster/index.ts'

/** What the node wants done with a CID. */
export type QueueAction = 'pin' | 'unpin'
/** Where the work stands: `queued` (waiting, maybe until `nextAt`), `active` (running), `done`, `failed` (retrying later). */
export type QueueState = 'queued' | 'active' | 'done' | 'failed'

export interface QueueItem {
  cid: string
  action: QueueAction
  state: QueueState
  attempts: number
  /** Epoch ms before which the item is not started. */
  nextAt: number
  reason?: string
  /** Bumped on every change of desire; a worker only records its outcome when `gen` is unchanged. */
  gen: number
}

export interface EnqueueRequest {
  cid: string
  action: QueueAction
  /**
   * Re-run a pin even when it is recorded as done (anti-entropy found it missing, repair
   * found it damaged). Without it, a repeated `pin` of a pinned CID is a no-op.
   */
  force?: boolean
}

/** The protocol status of a queue row. */
export function statusOf(item: Pick<QueueItem, 'action' | 'state'>): PinStatus {
  if (item.state === 'failed') return 'failed'
  if (item.action === 'pin') return item.state === 'done' ? 'pinned' : item.state === 'active' ? 'pinning' : 'queued'
  return item.state === 'done' ? 'unpinned' : 'unpinning'
}

const SCHEMA = `
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA busy_timeout = 5000;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue (
  cid TEXT PRIMARY KEY,
  action TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL DEFAULT 0,
  reason TEXT,
  gen INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS queue_due ON queue (state, next_at);
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, message TEXT NOT NULL);
`

/** A status the coordinator has not acknowledged: the row's current status at revision `rev`. */
export interface OutboxEntry extends StatusEntry {
  rev: number
}

/**
 * `rev` counts the row's changes and `reported` is the last rev the coordinator
 * acknowledged (rows from before this column existed start unreported, so statuses lost
 * by older versions are sent once). The partial index keeps the outbox query cheap.
 */
function addStatusOutboxColumns(db: DatabaseSync): void {
  const columns = new Set((db.prepare('PRAGMA table_info(queue)').all() as Array<{ name: string }>).map((c) => c.name))
  if (!columns.has('rev')) db.exec('ALTER TABLE queue ADD COLUMN rev INTEGER NOT NULL DEFAULT 1')
  if (!columns.has('reported')) db.exec('ALTER TABLE queue ADD COLUMN reported INTEGER NOT NULL DEFAULT 0')
  db.exec('CREATE INDEX IF NOT EXISTS queue_unreported ON queue (cid) WHERE reported < rev')
}

interface Row {
  cid: string
  action: QueueAction
  state: QueueState
  attempts: number
  next_at: number
  reason: string | null
  gen: number
}

function toItem(row: Row): QueueItem {
  const item: QueueItem = {
    cid: row.cid,
    action: row.action,
    state: row.state,
    attempts: row.attempts,
    nextAt: row.next_at,
    gen: row.gen,
  }
  if (row.reason !== null) item.reason = row.reason
  return item
}

/**
 * The node's own state in `<repo>/node-state.sqlite` (built-in node:sqlite): the executor's
 * persisted queue, one row per CID, and small key/value metadata (the change-feed cursor).
 *
 * All methods are synchronous and each is one transaction. `enqueue` commits with
 * `synchronous = FULL` (durable before it returns, so the caller may acknowledge); outcome
 * updates use WAL's NORMAL (a power cut may lose the last few, which are then redone —
 * every action is idempotent). Single process: the repo lock guards the directory.
 */
export class QueueStore {
  readonly #db: DatabaseSync
  readonly #get: StatementSync
  readonly #upsert: StatementSync
  readonly #due: StatementSync
  readonly #setOutcome: StatementSync
  readonly #countByState: StatementSync
  readonly #nextDue: StatementSync
  readonly #unreported: StatementSync
  readonly #markReported: StatementSync
  readonly #markUnreported: StatementSync
  #closed = false

  constructor(file: string) {
    this.#db = new DatabaseSync(file)
    this.#db.exec(SCHEMA)
    addStatusOutboxColumns(this.#db)
    this.#get = this.#db.prepare('SELECT cid, action, state, attempts, next_at, reason, gen FROM queue WHERE cid = ?')
    this.#upsert = this.#db.prepare(
      `INSERT INTO queue (cid, action, state, attempts, next_at, reason, gen, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (cid) DO UPDATE SET action = excluded.action, state = excluded.state, attempts = excluded.attempts,
         next_at = excluded.next_at, reason = excluded.reason, gen = excluded.gen, updated = excluded.updated, rev = queue.rev + 1`,
    )
    this.#due = this.#db.prepare(
      `SELECT cid, action, state, attempts, next_at, reason, gen FROM queue
       WHERE state IN ('queued', 'failed') AND next_at <= ? ORDER BY next_at, cid LIMIT ?`,
    )
    this.#setOutcome = this.#db.prepare(
      'UPDATE queue SET state = ?, attempts = ?, next_at = ?, reason = ?, updated = ?, rev = rev + 1 WHERE cid = ? AND gen = ?',
    )
    this.#countByState = this.#db.prepare('SELECT action, state, COUNT(*) AS n FROM queue GROUP BY action, state')
    this.#nextDue = this.#db.prepare(`SELECT MIN(next_at) AS t FROM queue WHERE state IN ('queued', 'failed')`)
    this.#unreported = this.#db.prepare(
      'SELECT cid, action, state, attempts, reason, rev FROM queue WHERE reported < rev ORDER BY cid LIMIT ?',
    )
    this.#markReported = this.#db.prepare('UPDATE queue SET reported = ? WHERE cid = ? AND reported < ?')
    this.#markUnreported = this.#db.prepare('UPDATE queue SET reported = 0 WHERE cid = ?')
    // Work that was running when the process stopped is queued again (resume after restart).
    this.#db.prepare(`UPDATE queue SET state = 'queued' WHERE state = 'active'`).run()
  }

  get(cid: string): QueueItem | undefined {
    const row = this.#get.get(cid) as Row | undefined
    return row ? toItem(row) : undefined
  }

  /**
   * Records desires durably, in one transaction together with `meta` (e.g. the feed cursor),
   * and returns the rows that changed (for status reporting). A desire equal to what is
   * queued, running or done already is a no-op (except `force` on a done pin).
   */
  enqueue(requests: Iterable<EnqueueRequest>, meta: Record<string, string> = {}, now = Date.now()): QueueItem[] {
    const changed: QueueItem[] = []
    this.#db.exec('PRAGMA synchronous = FULL')
    this.#db.exec('BEGIN IMMEDIATE')
    try {
      for (const request of requests) {
        const current = this.get(request.cid)
        if (current !== undefined && current.action === request.action) {
          if (current.state === 'queued' || current.state === 'active') continue
          if (current.state === 'done' && request.force !== true) continue
        }
        // A failed item asked for again is retried now; its attempts keep counting.
        const attempts = current !== undefined && current.action === request.action ? current.attempts : 0
        const gen = (current?.gen ?? 0) + 1
        this.#upsert.run(request.cid, request.action, 'queued', attempts, 0, null, gen, now)
        changed.push({ cid: request.cid, action: request.action, state: 'queued', attempts, nextAt: 0, gen })
      }
      for (const [key, value] of Object.entries(meta)) this.#setMetaRaw(key, value)
      this.#db.exec('COMMIT')
    } catch (err) {
      this.#db.exec('ROLLBACK')
      throw err
    } finally {
      this.#db.exec('PRAGMA synchronous = NORMAL')
    }
    return changed
  }

  /** Up to `limit` items due at `now` (queued or failed-and-retrying), earliest first. */
  due(now: number, limit: number): QueueItem[] {
    return (this.#due.all(now, limit) as unknown as Row[]).map(toItem)
  }

  /** Earliest `nextAt` among waiting items, if any. */
  nextDueAt(): number | undefined {
    const row = this.#nextDue.get() as { t: number | null } | undefined
    return row?.t ?? undefined
  }

  /**
   * Records an outcome for the item at generation `gen`; false (nothing written) when the
   * desire changed meanwhile — the new desire is then processed instead.
   */
  setOutcome(item: Pick<QueueItem, 'cid' | 'gen' | 'state' | 'attempts' | 'nextAt' | 'reason'>, now = Date.now()): boolean {
    const result = this.#setOutcome.run(item.state, item.attempts, item.nextAt, item.reason ?? null, now, item.cid, item.gen)
    return Number(result.changes) > 0
  }

  /** Counts per reported status. */
  counts(): Record<PinStatus, number> {
    const counts: Record<PinStatus, number> = { queued: 0, pinning: 0, pinned: 0, failed: 0, unpinning: 0, unpinned: 0 }
    for (const row of this.#countByState.all() as unknown as Array<{ action: QueueAction; state: QueueState; n: number }>) {
      counts[statusOf(row)] += row.n
    }
    return counts
  }

  getMeta(key: string): string | undefined {
    const row = this.#db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined
    return row?.value
  }

  setMeta(key: string, value: string): void {
    this.#setMetaRaw(key, value)
  }

  #setMetaRaw(key: string, value: string): void {
    this.#db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value)
  }

  /**
   * The status outbox: up to `limit` rows whose current status the coordinator has not
   * acknowledged yet, in CID order. Each entry
   * carries the row's `rev`; `markReported` with that rev removes it only if the row did not
   * change since (a newer status stays in the outbox).
   */
  unreported(limit: number): OutboxEntry[] {
    return (this.#unreported.all(limit) as unknown as Array<Omit<Row, 'next_at' | 'gen'> & { rev: number }>).map((row) => {
      const entry: OutboxEntry = { cid: row.cid, status: statusOf(row), attempts: row.attempts, rev: row.rev }
      if (row.reason !== null) entry.reason = row.reason
      return entry
    })
  }

  /** The coordinator acknowledged these entries (one transaction). */
  markReported(entries: Iterable<Pick<OutboxEntry, 'cid' | 'rev'>>): void {
    this.#transaction(() => {
      for (const { cid, rev } of entries) this.#markReported.run(rev, cid, rev)
    })
  }

  /** Puts the current status of these CIDs back into the outbox (anti-entropy found the coordinator's view wrong). */
  markUnreported(cids: Iterable<string>): void {
    this.#transaction(() => {
      for (const cid of cids) this.#markUnreported.run(cid)
    })
  }

  #transaction(body: () => void): void {
    this.#db.exec('BEGIN IMMEDIATE')
    try {
      body()
      this.#db.exec('COMMIT')
    } catch (err) {
      this.#db.exec('ROLLBACK')
      throw err
    }
  }

  /** Durably keeps a control message until it was handed to a live session (`outboxDelete`). */
  outboxAdd(message: unknown): number {
    this.#db.exec('PRAGMA synchronous = FULL')
    try {
      return Number(this.#db.prepare('INSERT INTO outbox (message) VALUES (?)').run(JSON.stringify(message)).lastInsertRowid)
    } finally {
      this.#db.exec('PRAGMA synchronous = NORMAL')
    }
  }

  /** The oldest `limit` outbox messages. */
  outboxList(limit: number): Array<{ id: number; message: unknown }> {
    const rows = this.#db.prepare('SELECT id, message FROM outbox ORDER BY id LIMIT ?').all(limit) as Array<{ id: number; message: string }>
    return rows.map((row) => ({ id: row.id, message: JSON.parse(row.message) as unknown }))
  }

  outboxDelete(id: number): void {
    this.#db.prepare('DELETE FROM outbox WHERE id = ?').run(id)
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#db.close()
  }
}
