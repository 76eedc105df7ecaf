import { notifyInTransaction } from './notifications.ts'
import { type Selectable, sql } from 'kysely'
import { type Executor, invalidArgument, now, pageSize, type RegistryContext } from './db.ts'
import type { AllocationsTable } from './schema.ts'

/**
 * How long before its arrival a node's report may have been taken (see `promisedBytes`): the
 * time between its `repo.stat` and the frame's arrival, milliseconds in practice.
 */
const REPORT_SKEW_MS = 250

export type AllocationStatus = 'queued' | 'pinning' | 'pinned' | 'failed' | 'unpinning' | 'unpinned'
export const ALLOCATION_STATUSES: readonly AllocationStatus[] = [
  'queued',
  'pinning',
  'pinned',
  'failed',
  'unpinning',
  'unpinned',
]

export interface Allocation {
  cid: string
  nodeId: string
  status: AllocationStatus
  attempts: number
  reason: string | null
  /** Sequence number of the latest change to this allocation. */
  seq: number
  createdAt: number
  updatedAt: number
}

/** One entry of a node's change feed. */
export interface AllocationChange {
  seq: number
  nodeId: string
  cid: string
  status: AllocationStatus
  ts: number
}

function toAllocation(row: Selectable<AllocationsTable>): Allocation {
  return {
    cid: row.cid,
    nodeId: row.node_id,
    status: row.status as AllocationStatus,
    attempts: Number(row.attempts),
    reason: row.reason,
    seq: Number(row.seq),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  }
}

/**
 * Appends a change to the feed and returns its sequence number. Must run inside a
 * transaction. On PostgreSQL the `changes` table is locked (SHARE ROW EXCLUSIVE, self-
 * conflicting) until commit, so sequence numbers become visible in increasing order and a
 * reader that saw `seq` never later finds a smaller one appear; SQLite's `BEGIN IMMEDIATE`
 * gives the same guarantee by serialising all writers.
 */
export async function appendChange(
  trx: Executor,
  ctx: RegistryContext,
  nodeId: string,
  cid: string,
  status: AllocationStatus,
): Promise<number> {
  if (ctx.dialect === 'postgres') await sql`lock table changes in share row exclusive mode`.execute(trx)
  const row = await trx
    .insertInto('changes')
    .values({ node_id: nodeId, cid, status, ts: now() })
    .returning('seq')
    .executeTakeFirstOrThrow()
  // every replica holding this node's session wakes its feed once this commits
  await notifyInTransaction(trx, ctx, 'feed', nodeId)
  return Number(row.seq)
}

/**
 * Sets an allocation's status (creating it if absent) and appends a change. Returns the
 * allocation. Must run inside a transaction.
 */
export async function writeAllocation(
  trx: Executor,
  ctx: RegistryContext,
  cid: string,
  nodeId: string,
  update: { status: AllocationStatus; reason?: string | null; attemptsDelta?: number; attempts?: number },
): Promise<Allocation> {
  if (!ALLOCATION_STATUSES.includes(update.status)) throw invalidArgument(`invalid allocation status ${update.status}`)
  const seq = await appendChange(trx, ctx, nodeId, cid, update.status)
  const t = now()
  const existing = await trx
    .selectFrom('allocations')
    .selectAll()
    .where('cid', '=', cid)
    .where('node_id', '=', nodeId)
    .executeTakeFirst()
  if (existing === undefined) {
    const row = {
      cid,
      node_id: nodeId,
      status: update.status,
      attempts: update.attempts ?? update.attemptsDelta ?? 0,
      reason: update.reason ?? null,
      seq,
      created_at: t,
      updated_at: t,
    }
    await trx.insertInto('allocations').values(row).execute()
    return toAllocation(row)
  }
  const row = {
    ...existing,
    status: update.status,
    attempts: update.attempts ?? Number(existing.attempts) + (update.attemptsDelta ?? 0),
    reason: update.reason === undefined ? existing.reason : update.reason,
    seq,
    updated_at: t,
  }
  await trx
    .updateTable('allocations')
    .set({ status: row.status, attempts: row.attempts, reason: row.reason, seq, updated_at: t })
    .where('cid', '=', cid)
    .where('node_id', '=', nodeId)
    .execute()
  return toAllocation(row)
}

/**
 * Allocations: which node should hold which pin, and what it reported. Every status change
 * appends to the change feed (`changesSince`), whose sequence numbers are strictly
 * increasing in commit order. Admin/coordinator-internal: not account-scoped.
 */
export class Allocations {
  readonly #ctx: RegistryContext

  constructor(ctx: RegistryContext) {
    this.#ctx = ctx
  }

  /** Wants `nodeId` to hold `cid`: status `queued` (a no-op returning the row if already queued/pinning/pinned). */
  async allocate(cid: string, nodeId: string): Promise<Allocation> {
    return this.#ctx.db.transaction().execute(async (trx) => {
      const existing = await trx
        .selectFrom('allocations')
        .selectAll()
        .where('cid', '=', cid)
        .where('node_id', '=', nodeId)
        .executeTakeFirst()
      if (existing && ['queued', 'pinning', 'pinned'].includes(existing.status)) return toAllocation(existing)
      return writeAllocation(trx, this.#ctx, cid, nodeId, { status: 'queued', reason: null })
    })
  }

  /**
   * Records a status (from the node's report or the coordinator's decision). `failed`
   * increments `attempts`, unless `options.attempts` gives the count (the node's own, so a
   * resent report changes nothing). Returns the new allocation.
   */
  async setStatus(
    cid: string,
    nodeId: string,
    status: AllocationStatus,
    reason?: string | null,
    options: { attempts?: number } = {},
  ): Promise<Allocation> {
    const update = { status, reason, attemptsDelta: status === 'failed' ? 1 : 0, ...options }
    return this.#ctx.db.transaction().execute((trx) => writeAllocation(trx, this.#ctx, cid, nodeId, update))
  }

  /** Asks the node to drop `cid` (status `unpinning`). False when there was no allocation. */
  async deallocate(cid: string, nodeId: string): Promise<boolean> {
    return this.#ctx.db.transaction().execute(async (trx) => {
      const existing = await trx
        .selectFrom('allocations')
        .select('status')
        .where('cid', '=', cid)
        .where('node_id', '=', nodeId)
        .executeTakeFirst()
      if (existing === undefined) return false
      if (existing.status !== 'unpinning' && existing.status !== 'unpinned')
        await writeAllocation(trx, this.#ctx, cid, nodeId, { status: 'unpinning', reason: null })
      return true
    })
  }

  async get(cid: string, nodeId: string): Promise<Allocation | undefined> {
    const row = await this.#ctx.db
      .selectFrom('allocations')
      .selectAll()
      .where('cid', '=', cid)
      .where('node_id', '=', nodeId)
      .executeTakeFirst()
    return row && toAllocation(row)
  }

  /** Allocations of one pin, by node id. */
  async listForCid(cid: string): Promise<Allocation[]> {
    const rows = await this.#ctx.db.selectFrom('allocations').selectAll().where('cid', '=', cid).orderBy('node_id').execute()
    return rows.map(toAllocation)
  }

  /** A node's allocations ordered by cid, keyset-paged by `after` (exclusive cid). */
  async listForNode(
    nodeId: string,
    opts: { status?: AllocationStatus[]; after?: string; limit?: number } = {},
  ): Promise<Allocation[]> {
    const limit = pageSize(opts.limit, 1000, 10_000)
    let q = this.#ctx.db.selectFrom('allocations').selectAll().where('node_id', '=', nodeId)
    if (opts.status !== undefined && opts.status.length > 0) q = q.where('status', 'in', opts.status)
    if (opts.after !== undefined) q = q.where('cid', '>', opts.after)
    const rows = await q.orderBy('cid').limit(limit).execute()
    return rows.map(toAllocation)
  }

  /**
   * Bytes promised to each node and not in its last report: Σ size of the pins allocated to
   * it but not pinned yet (queued, pinning, failed-and-retrying), and of those pinned since
   * shortly before its last report (`last_seen`; a report's free space may predate a pin
   * that reached the coordinator first). The allocator takes them off the node's reported
   * free space, so a small node is not over-committed by queued or just-finished work.
   */
  async promisedBytes(): Promise<Map<string, { bytes: number; pins: number }>> {
    const rows = await this.#ctx.db
      .selectFrom('allocations')
      .innerJoin('pins', 'pins.cid', 'allocations.cid')
      .innerJoin('nodes', 'nodes.id', 'allocations.node_id')
      .select((eb) => [
        'allocations.node_id as nodeId',
        eb.fn.sum<number | string>('pins.size').as('bytes'),
        eb.fn.countAll<number | string>().as('pins'),
      ])
      .where((eb) =>
        eb.or([
          eb('allocations.status', 'in', ['queued', 'pinning', 'failed']),
          eb.and([
            eb('allocations.status', '=', 'pinned'),
            sql<boolean>`allocations.updated_at > coalesce(nodes.last_seen, 0) - ${REPORT_SKEW_MS}`,
          ]),
        ]),
      )
      .groupBy('allocations.node_id')
      .execute()
    return new Map(rows.map((r) => [r.nodeId, { bytes: Number(r.bytes), pins: Number(r.pins) }]))
  }

  /** Deletes an allocation the node reported `unpinned`. Appends no change. */
  async purge(cid: string, nodeId: string): Promise<boolean> {
    const r = await this.#ctx.db
      .deleteFrom('allocations')
      .where('cid', '=', cid)
      .where('node_id', '=', nodeId)
      .where('status', '=', 'unpinned')
      .executeTakeFirst()
    return Number(r.numDeletedRows) > 0
  }

  /**
   * The node's changes with `seq > sinceSeq`, in increasing seq order, at most `limit`
   * (default 1000). A node resumes by passing the last seq it processed.
   */
  async changesSince(nodeId: string, sinceSeq: number, opts: { limit?: number } = {}): Promise<AllocationChange[]> {
    const limit = pageSize(opts.limit, 1000, 10_000)
    const rows = await this.#ctx.db
      .selectFrom('changes')
      .selectAll()
      .where('node_id', '=', nodeId)
      .where('seq', '>', sinceSeq)
      .orderBy('seq')
      .limit(limit)
      .execute()
    return rows.map((r) => ({
      seq: Number(r.seq),
      nodeId: r.node_id,
      cid: r.cid,
      status: r.status as AllocationStatus,
      ts: Number(r.ts),
    }))
  }

  /** The highest sequence number issued so far (0 when none). */
  async latestSeq(): Promise<number> {
    const r = await this.#ctx.db
      .selectFrom('changes')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .executeTakeFirst()
    return Number(r?.seq ?? 0)
  }
}
