import type { Selectable } from 'kysely'
import { conflict, invalidArgument, isUniqueViolation, now, parseJson, type RegistryContext } from './db.ts'
import type { NodesTable } from './schema.ts'

export type NodeStatus = 'online' | 'offline' | 'down'

export interface StorageNode {
  /** The node key id. */
  id: string
  publicKey: string
  name: string
  /** Failure-domain tags, e.g. `{ region: 'eu' }`. */
  tags: Record<string, string>
  address: string | null
  status: NodeStatus
  /** Last reported capacity, e.g. `{ totalBytes, freeBytes }`. */
  capacity: Record<string, number>
  lastSeen: number | null
  revoked: boolean
  createdAt: number
  /** Highest change-feed seq the node acknowledged (0 = none). */
  cursor: number
  /** The node's last full report (storage paths, counts, version…), as the cluster stores it. */
  info: Record<string, unknown>
  /** Admin asked this node's pins to move elsewhere before it leaves. */
  draining: boolean
  /** The account an admin assigned this node's drop-folder ingest to (none: it cannot ingest). */
  ingestAccountId: string | null
}

function toNode(row: Selectable<NodesTable>): StorageNode {
  return {
    id: row.id,
    publicKey: row.public_key,
    name: row.name,
    tags: parseJson(row.tags, {}),
    address: row.address,
    status: row.status as NodeStatus,
    capacity: parseJson(row.capacity, {}),
    lastSeen: row.last_seen === null ? null : Number(row.last_seen),
    revoked: Number(row.revoked) !== 0,
    createdAt: Number(row.created_at),
    cursor: Number(row.cursor),
    info: parseJson(row.info, {}),
    draining: Number(row.draining) !== 0,
    ingestAccountId: row.ingest_account_id ?? null,
  }
}

/** Storage nodes known to the coordinator (admin/internal; not account-scoped). */
export class Nodes {
  readonly #ctx: RegistryContext

  constructor(ctx: RegistryContext) {
    this.#ctx = ctx
  }

  /** Registers a node; ERR_CONFLICT if the id exists. */
  async register(input: {
    id: string
    publicKey: string
    name: string
    tags?: Record<string, string>
    address?: string | null
  }): Promise<StorageNode> {
    if (input.id === '' || input.id.length > 200) throw invalidArgument('invalid node id')
    const row = {
      id: input.id,
      public_key: input.publicKey,
      name: input.name,
      tags: JSON.stringify(input.tags ?? {}),
      address: input.address ?? null,
      status: 'offline',
      capacity: '{}',
      last_seen: null,
      revoked: 0,
      created_at: now(),
    }
    try {
      await this.#ctx.db.insertInto('nodes').values(row).execute()
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`node ${input.id} is already registered`, err)
      throw err
    }
    return toNode({ ...row, cursor: 0, info: '{}', draining: 0, ingest_account_id: null })
  }

  async get(id: string): Promise<StorageNode | undefined> {
    const row = await this.#ctx.db.selectFrom('nodes').selectAll().where('id', '=', id).executeTakeFirst()
    return row && toNode(row)
  }

  /** All nodes by id (revoked ones included unless `activeOnly`). */
  async list(opts: { activeOnly?: boolean } = {}): Promise<StorageNode[]> {
    let q = this.#ctx.db.selectFrom('nodes').selectAll()
    if (opts.activeOnly) q = q.where('revoked', '=', 0)
    return (await q.orderBy('id').execute()).map(toNode)
  }

  /** Records a heartbeat/status report. False when unknown. */
  async heartbeat(
    id: string,
    report: {
      status?: NodeStatus
      capacity?: Record<string, number>
      address?: string | null
      /** Replaces the stored report (JSON-serialisable). */
      info?: Record<string, unknown>
      at?: number
    },
  ): Promise<boolean> {
    const set: Partial<Selectable<NodesTable>> = { last_seen: report.at ?? now() }
    if (report.info !== undefined) set.info = JSON.stringify(report.info)
    if (report.status !== undefined) set.status = report.status
    if (report.capacity !== undefined) set.capacity = JSON.stringify(report.capacity)
    if (report.address !== undefined) set.address = report.address
    const r = await this.#ctx.db.updateTable('nodes').set(set).where('id', '=', id).executeTakeFirst()
    return Number(r.numUpdatedRows) > 0
  }

  /** Sets the gateway address the coordinator vouches for (null: none). False when unknown. */
  async setAddress(id: string, address: string | null): Promise<boolean> {
    const r = await this.#ctx.db.updateTable('nodes').set({ address }).where('id', '=', id).executeTakeFirst()
    return Number(r.numUpdatedRows) > 0
  }

  async update(id: string, input: { name?: string; tags?: Record<string, string> }): Promise<boolean> {
    const set: Partial<Selectable<NodesTable>> = {}
    if (input.name !== undefined) set.name = input.name
    if (input.tags !== undefined) set.tags = JSON.stringify(input.tags)
    if (Object.keys(set).length === 0) return (await this.get(id)) !== undefined
    const r = await this.#ctx.db.updateTable('nodes').set(set).where('id', '=', id).executeTakeFirst()
    return Number(r.numUpdatedRows) > 0
  }

  /**
   * Stores the change-feed position the node acknowledged. Only moves forward: a stale or
   * replayed ack never rewinds it. False when the node is unknown or the cursor was ahead.
   */
  async setCursor(id: string, seq: number): Promise<boolean> {
    if (!Number.isSafeInteger(seq) || seq < 0) throw invalidArgument('cursor must be a non-negative integer')
    const r = await this.#ctx.db.updateTable('nodes').set({ cursor: seq }).where('id', '=', id).where('cursor', '<', seq).executeTakeFirst()
    return Number(r.numUpdatedRows) > 0
  }

  /** Marks (or unmarks) a node as draining. False when unknown. */
  async setDraining(id: string, draining: boolean): Promise<boolean> {
    const r = await this.#ctx.db.updateTable('nodes').set({ draining: draining ? 1 : 0 }).where('id', '=', id).executeTakeFirst()
    return Number(r.numUpdatedRows) > 0
  }

  /** Assigns (or with null, withdraws) the account the node's drop-folder files go to. False when unknown. */
  async setIngestAccount(id: string, accountId: string | null): Promise<boolean> {
    const r = await this.#ctx.db.updateTable('nodes').set({ ingest_account_id: accountId }).where('id', '=', id).executeTakeFirst()
    return Number(r.numUpdatedRows) > 0
  }

  /** Revokes a node (it may no longer connect). Idempotent. */
  async revoke(id: string): Promise<boolean> {
    const r = await this.#ctx.db.updateTable('nodes').set({ revoked: 1, status: 'offline' }).where('id', '=', id).executeTakeFirst()
    return Number(r.numUpdatedRows) > 0
  }
}
