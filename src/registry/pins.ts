import { notifyInTransaction } from './notifications.ts'
import { recordStaged } from './staging.ts'
import type { ExpressionBuilder, Selectable } from 'kysely'
import { CID } from 'multiformats/cid'
import { rejectControlCharacters } from '../core/control-characters.ts'
import { InvalidCidError } from '../core/errors.ts'
import { writeAllocation } from './allocations.ts'
import {
  type Executor,
  invalidArgument,
  now,
  pageSize,
  parseJson,
  type RegistryContext,
} from './db.ts'
import type { PinsTable, RegistrySchema } from './schema.ts'

export interface Pin {
  cid: string
  /** Minimum copies (−1 = every node). */
  replicationMin: number
  /** Maximum copies (−1 = every node). */
  replicationMax: number
  name: string | null
  metadata: Record<string, string>
  size: number
  createdAt: number
  updatedAt: number
}

export interface PinOptions {
  replicationMin?: number
  replicationMax?: number
  name?: string | null
  metadata?: Record<string, string>
  size?: number
}

/** What holds a pin: an entry, a Pinning Service request, or another owner kind. */
export interface PinReference {
  kind: 'entry' | 'pin_request' | (string & {})
  id: string
  accountId: string
}

/**
 * `pin_refs` rows through which `accountId` holds the pin (`pins.cid`): every reference except
 * a Pinning Service request not (yet) `pinned`. A request only names a CID; it holds the content
 * once its bytes were fetched from the request's origins (or the account already held it), so a
 * request for another account's CID grants no read and counts no bytes (issue 9 item 1).
 */
function holdingRefs(eb: ExpressionBuilder<RegistrySchema, 'pins'>, accountId: string) {
  return eb
    .selectFrom('pin_refs')
    .select('pin_refs.cid')
    .whereRef('pin_refs.cid', '=', 'pins.cid')
    .where('pin_refs.account_id', '=', accountId)
    .where((ref) =>
      ref.or([
        ref('pin_refs.ref_kind', '<>', 'pin_request'),
        ref.exists(
          ref
            .selectFrom('pin_requests')
            .select('pin_requests.requestid')
            .whereRef('pin_requests.requestid', '=', 'pin_refs.ref_id')
            .where('pin_requests.status', '=', 'pinned'),
        ),
      ]),
    )
}

/** Default replication when none is given: every node, as IPFS Cluster. */
export const DEFAULT_REPLICATION = { min: -1, max: -1 } as const

function toPin(row: Selectable<PinsTable>): Pin {
  return {
    cid: row.cid,
    replicationMin: Number(row.replication_min),
    replicationMax: Number(row.replication_max),
    name: row.name,
    metadata: parseJson<Record<string, string>>(row.metadata, {}),
    size: Number(row.size),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  }
}

/** Throws InvalidCidError unless `cid` parses as a CID. Returns it unchanged (v0 stays v0). */
export function checkCid(cid: string): string {
  if (typeof cid !== 'string' || cid.length === 0 || cid.length > 200) throw new InvalidCidError(String(cid))
  try {
    CID.parse(cid)
  } catch (err) {
    throw new InvalidCidError(cid, err)
  }
  return cid
}

function checkReplication(min: number, max: number): void {
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < -1 || max < -1)
    throw invalidArgument('replication factors must be integers ≥ −1')
  if (min === -1 && max !== -1) throw invalidArgument('replicationMin −1 (every node) needs replicationMax −1')
  if (max !== -1 && min > max) throw invalidArgument('replicationMin must not exceed replicationMax')
}

/**
 * Creates the pin for `cid` if absent, else leaves it unchanged; returns it. Takes the pin's
 * row lock on PostgreSQL (upsert), which orders it against a concurrent release.
 */
export async function ensurePin(trx: Executor, cid: string, opts: PinOptions = {}): Promise<Pin> {
  checkCid(cid)
  const min = opts.replicationMin ?? DEFAULT_REPLICATION.min
  const max = opts.replicationMax ?? (opts.replicationMin === undefined ? DEFAULT_REPLICATION.max : -1)
  checkReplication(min, max)
  if (opts.name != null && opts.name.length > 255) throw invalidArgument('pin name is limited to 255 characters')
  if (opts.name != null) rejectControlCharacters(opts.name, 'pin name')
  const size = opts.size ?? 0
  if (!Number.isSafeInteger(size) || size < 0) throw invalidArgument('size must be a non-negative integer')
  const t = now()
  await trx
    .insertInto('pins')
    .values({
      cid,
      replication_min: min,
      replication_max: max,
      name: opts.name ?? null,
      metadata: JSON.stringify(opts.metadata ?? {}),
      size,
      created_at: t,
      updated_at: t,
    })
    .onConflict((oc) => oc.column('cid').doUpdateSet((eb) => ({ updated_at: eb.ref('pins.updated_at') })))
    .execute()
  const row = await trx.selectFrom('pins').selectAll().where('cid', '=', cid).executeTakeFirstOrThrow()
  return toPin(row)
}

/** Adds a reference (idempotent). The pin must exist. */
export async function addPinReference(trx: Executor, ctx: RegistryContext, cid: string, ref: PinReference): Promise<void> {
  await trx
    .insertInto('pin_refs')
    .values({ cid, ref_kind: ref.kind, ref_id: ref.id, account_id: ref.accountId, created_at: now() })
    .onConflict((oc) => oc.columns(['ref_kind', 'ref_id', 'cid']).doNothing())
    .execute()
  await recordStaged(trx, ctx, cid)
  // the leader places new content at once rather than on its next pass
  await notifyInTransaction(trx, ctx, 'reconcile', cid)
}

export async function removePinReference(
  trx: Executor,
  cid: string,
  ref: { kind: string; id: string },
): Promise<boolean> {
  const r = await trx
    .deleteFrom('pin_refs')
    .where('cid', '=', cid)
    .where('ref_kind', '=', ref.kind)
    .where('ref_id', '=', ref.id)
    .executeTakeFirst()
  return Number(r.numDeletedRows) > 0
}

/**
 * Deletes the pin when no reference of any account remains, and moves its allocations to
 * `unpinning` (with change-feed entries) so nodes drop it. Returns true when it released
 * the pin. Must run in a transaction: on PostgreSQL the pin row is locked first, so a
 * concurrent `ensurePin` + `addPinReference` either commits before (and the pin is kept) or
 * waits and re-creates the pin after.
 */
export async function releasePinIfUnreferenced(trx: Executor, ctx: RegistryContext, cid: string): Promise<boolean> {
  let q = trx.selectFrom('pins').select('cid').where('cid', '=', cid)
  if (ctx.dialect === 'postgres') q = q.forUpdate()
  const pin = await q.executeTakeFirst()
  if (pin === undefined) return false
  const ref = await trx.selectFrom('pin_refs').select('cid').where('cid', '=', cid).limit(1).executeTakeFirst()
  if (ref !== undefined) return false
  const allocations = await trx
    .selectFrom('allocations')
    .select(['node_id', 'status'])
    .where('cid', '=', cid)
    .orderBy('node_id')
    .execute()
  for (const a of allocations) {
    if (a.status !== 'unpinning' && a.status !== 'unpinned')
      await writeAllocation(trx, ctx, cid, a.node_id, { status: 'unpinning', reason: null })
  }
  await trx.deleteFrom('pins').where('cid', '=', cid).execute()
  await trx.deleteFrom('staged_content').where('cid', '=', cid).execute()
  return true
}

/**
 * Pins: one row per CID however many owners reference it. A pin lives while at least one
 * reference (entry, pin request, …) of any account exists; `releaseIfUnreferenced` is the
 * single place that removes one. All methods are safe to call concurrently.
 */
export class Pins {
  readonly #ctx: RegistryContext

  constructor(ctx: RegistryContext) {
    this.#ctx = ctx
  }

  /** Idempotent: an existing pin is returned unchanged (use `update` to change options). */
  async ensure(cid: string, opts: PinOptions = {}): Promise<Pin> {
    return this.#ctx.db.transaction().execute((trx) => ensurePin(trx, cid, opts))
  }

  /** Admin/internal: the pin whatever its owners. */
  async get(cid: string): Promise<Pin | undefined> {
    const row = await this.#ctx.db.selectFrom('pins').selectAll().where('cid', '=', cid).executeTakeFirst()
    return row && toPin(row)
  }

  /** The distinct accounts holding any reference to `cid` (uses the `pin_refs (cid)` index). */
  async accountsReferencing(cid: string): Promise<string[]> {
    const rows = await this.#ctx.db.selectFrom('pin_refs').select('account_id').distinct().where('cid', '=', cid).execute()
    return rows.map((row) => row.account_id)
  }

  /**
   * The pin only if `accountId` holds it (see {@link holdingRefs}): what grants reading a CID
   * (gateway, Kubo RPC, share links, pin status). Other accounts' CIDs, and CIDs the account
   * only asked for in a request not yet `pinned`, behave as not found.
   */
  async getForAccount(accountId: string, cid: string): Promise<Pin | undefined> {
    const row = await this.#ctx.db
      .selectFrom('pins')
      .selectAll()
      .where('cid', '=', cid)
      .where((eb) => eb.exists(holdingRefs(eb, accountId)))
      .executeTakeFirst()
    return row && toPin(row)
  }

  /**
   * The pins `accountId` holds (see {@link getForAccount}; through any reference, or only through `kind`), ordered
   * by cid and keyset-paged by `after`; `cids` restricts to those CIDs. Other accounts' pins
   * never appear. One semi-join over the `pin_refs (account_id, cid)` index.
   */
  async listForAccount(
    accountId: string,
    opts: { kind?: string; cids?: readonly string[]; after?: string; limit?: number } = {},
  ): Promise<Pin[]> {
    const limit = pageSize(opts.limit, 1000, 10_000)
    if (opts.cids !== undefined && opts.cids.length === 0) return []
    let q = this.#ctx.db.selectFrom('pins').selectAll()
    if (opts.after !== undefined) q = q.where('cid', '>', opts.after)
    if (opts.cids !== undefined) q = q.where('cid', 'in', [...opts.cids])
    const rows = await q
      .where((eb) => {
        let refs = holdingRefs(eb, accountId)
        if (opts.kind !== undefined) refs = refs.where('pin_refs.ref_kind', '=', opts.kind)
        return eb.exists(refs)
      })
      .orderBy('cid')
      .limit(limit)
      .execute()
    return rows.map(toPin)
  }

  /** Total `size` of the distinct pins `accountId` references through references of `kind`. */
  async bytesForAccount(accountId: string, kind: string): Promise<number> {
    const r = await this.#ctx.db
      .selectFrom('pins')
      .select((eb) => eb.fn.sum<number>('pins.size').as('total'))
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('pin_refs')
            .select('pin_refs.cid')
            .whereRef('pin_refs.cid', '=', 'pins.cid')
            .where('pin_refs.account_id', '=', accountId)
            .where('pin_refs.ref_kind', '=', kind),
        ),
      )
      .executeTakeFirst()
    return Number(r?.total ?? 0)
  }

  /** Admin listing ordered by cid; pass the last cid seen as `after`. */
  async list(opts: { after?: string; limit?: number } = {}): Promise<Pin[]> {
    const limit = pageSize(opts.limit, 1000, 10_000)
    let q = this.#ctx.db.selectFrom('pins').selectAll()
    if (opts.after !== undefined) q = q.where('cid', '>', opts.after)
    const rows = await q.orderBy('cid').limit(limit).execute()
    return rows.map(toPin)
  }

  /**
   * Pins no node is asked to hold (no allocation in queued/pinning/pinned/failed), ordered
   * by cid and keyset-paged by `after`: what the allocator must place. One anti-join over
   * the allocations primary key.
   */
  async listUnallocated(opts: { after?: string; limit?: number } = {}): Promise<Pin[]> {
    const limit = pageSize(opts.limit, 1000, 10_000)
    let q = this.#ctx.db.selectFrom('pins').selectAll()
    if (opts.after !== undefined) q = q.where('cid', '>', opts.after)
    const rows = await q
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('allocations')
              .select('allocations.cid')
              .whereRef('allocations.cid', '=', 'pins.cid')
              .where('allocations.status', 'in', ['queued', 'pinning', 'pinned', 'failed']),
          ),
        ),
      )
      .orderBy('cid')
      .limit(limit)
      .execute()
    return rows.map(toPin)
  }

  /** Number of pins (admin/metrics). */
  async count(): Promise<number> {
    const r = await this.#ctx.db
      .selectFrom('pins')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirst()
    return Number(r?.n ?? 0)
  }

  /** Changes options of an existing pin. False when there is no such pin. */
  async update(cid: string, opts: PinOptions): Promise<boolean> {
    return this.#ctx.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('pins').selectAll().where('cid', '=', cid).executeTakeFirst()
      if (row === undefined) return false
      const min = opts.replicationMin ?? Number(row.replication_min)
      const max = opts.replicationMax ?? Number(row.replication_max)
      checkReplication(min, max)
      await trx
        .updateTable('pins')
        .set({
          replication_min: min,
          replication_max: max,
          name: opts.name === undefined ? row.name : opts.name,
          metadata: opts.metadata === undefined ? row.metadata : JSON.stringify(opts.metadata),
          size: opts.size ?? row.size,
          updated_at: now(),
        })
        .where('cid', '=', cid)
        .execute()
      return true
    })
  }

  /** Ensures the pin and adds the reference, atomically. Idempotent per (kind, id, cid). */
  async addReference(cid: string, ref: PinReference, opts: PinOptions = {}): Promise<Pin> {
    return this.#ctx.db.transaction().execute(async (trx) => {
      const pin = await ensurePin(trx, cid, opts)
      await addPinReference(trx, this.#ctx, cid, ref)
      return pin
    })
  }

  /**
   * Removes a reference and releases the pin if it was the last. Returns whether the
   * reference existed and whether the pin was released.
   */
  async removeReference(cid: string, ref: { kind: string; id: string }): Promise<{ removed: boolean; released: boolean }> {
    return this.#ctx.db.transaction().execute(async (trx) => {
      const removed = await removePinReference(trx, cid, ref)
      const released = await releasePinIfUnreferenced(trx, this.#ctx, cid)
      return { removed, released }
    })
  }

  /**
   * Bytes of the distinct pins `accountId` holds (entries, pinned pin requests…; see
   * {@link getForAccount}), by each pin's recorded `size` (0 while unknown): what a storage quota is
   * checked against. A pending request adds nothing, so its CID's size stays unrevealed.
   */
  async bytesReferencedBy(accountId: string): Promise<number> {
    const r = await this.#ctx.db
      .selectFrom('pins')
      .select((eb) => eb.fn.sum<number>('pins.size').as('total'))
      .where((eb) => eb.exists(holdingRefs(eb, accountId)))
      .executeTakeFirst()
    return Number(r?.total ?? 0)
  }

  /** Number of references of all accounts. */
  async referenceCount(cid: string): Promise<number> {
    const r = await this.#ctx.db
      .selectFrom('pin_refs')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('cid', '=', cid)
      .executeTakeFirst()
    return Number(r?.n ?? 0)
  }

  /** See {@link releasePinIfUnreferenced}. Idempotent; false when kept or already gone. */
  async releaseIfUnreferenced(cid: string): Promise<boolean> {
    return this.#ctx.db.transaction().execute((trx) => releasePinIfUnreferenced(trx, this.#ctx, cid))
  }
}
