import { type ExpressionBuilder, type Selectable, sql } from 'kysely'
import { rejectControlCharacters } from '../core/control-characters.ts'
import { type Executor, invalidArgument, newId, notFound, now, pageSize, parseJson, type RegistryContext } from './db.ts'
import { addPinReference, checkCid, ensurePin, type PinOptions, releasePinIfUnreferenced, removePinReference } from './pins.ts'
import type { PinRequestsTable, RegistrySchema } from './schema.ts'

export type PinRequestStatus = 'queued' | 'pinning' | 'pinned' | 'failed'
const STATUSES: readonly PinRequestStatus[] = ['queued', 'pinning', 'pinned', 'failed']

/** How `name` is compared (the Pinning Service API's TextMatchingStrategy). */
export type NameMatch = 'exact' | 'iexact' | 'partial' | 'ipartial'
const NAME_MATCHES: readonly NameMatch[] = ['exact', 'iexact', 'partial', 'ipartial']

/** What `create` and `replace` take. */
export interface PinRequestInput {
  cid: string
  name?: string | null
  meta?: Record<string, string>
  origins?: string[]
  pin?: PinOptions
}

/** Filters of `list`; every one given must match (AND). */
export interface PinRequestFilter {
  /** Any of these CIDs (exact strings: pass v0/v1 forms yourself if both should match). */
  cids?: string[]
  status?: PinRequestStatus[]
  /** Exclusive upper bound on `created` (ms). */
  before?: number
  /** Exclusive lower bound on `created` (ms). */
  after?: number
  /** Name filter, compared per `match` (default exact). Case folding is ASCII-only on SQLite. */
  name?: string
  match?: NameMatch
  /** Every key/value must be present in the request's meta. */
  meta?: Record<string, string>
  limit?: number
}

/** A Pinning Service API request (`POST /pins`). */
export interface PinRequest {
  requestid: string
  accountId: string
  cid: string
  name: string | null
  meta: Record<string, string>
  origins: string[]
  status: PinRequestStatus
  /** Unique per account and strictly increasing in creation order (ms). */
  created: number
  updatedAt: number
}

function toPinRequest(row: Selectable<PinRequestsTable>): PinRequest {
  return {
    requestid: row.requestid,
    accountId: row.account_id,
    cid: row.cid,
    name: row.name,
    meta: parseJson(row.meta, {}),
    origins: parseJson(row.origins, []),
    status: row.status as PinRequestStatus,
    created: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  }
}

/**
 * Pinning Service API requests. Each holds a reference on its CID's pin. `created` is
 * unique per account and increases with creation order (bumped by 1 ms on collision), so
 * `before`/`after` paging never skips or repeats a request.
 */
export class PinRequests {
  readonly #ctx: RegistryContext

  constructor(ctx: RegistryContext) {
    this.#ctx = ctx
  }

  /** Creates a request (always a new requestid, even for a CID already requested). */
  async create(accountId: string, input: PinRequestInput): Promise<PinRequest> {
    checkInput(input)
    return this.#ctx.db.transaction().execute((trx) => this.#insert(trx, accountId, input))
  }

  /**
   * Replaces `requestid` by a new request for `input` in one transaction: the new request
   * (and its pin reference) exists before the old one's reference is removed, so blocks
   * common to both pins are never released in between. Undefined (and nothing created)
   * when `requestid` is not the account's. `released` is the old CID when its pin lost
   * its last reference.
   */
  async replace(
    accountId: string,
    requestid: string,
    input: PinRequestInput,
  ): Promise<{ request: PinRequest; previous: PinRequest; released: string | null } | undefined> {
    checkInput(input)
    return this.#ctx.db.transaction().execute(async (trx) => {
      let q = trx.selectFrom('pin_requests').selectAll().where('account_id', '=', accountId).where('requestid', '=', requestid)
      if (this.#ctx.dialect === 'postgres') q = q.forUpdate()
      const old = await q.executeTakeFirst()
      if (old === undefined) return undefined
      const request = await this.#insert(trx, accountId, input)
      await removePinReference(trx, old.cid, { kind: 'pin_request', id: requestid })
      await trx.deleteFrom('pin_requests').where('requestid', '=', requestid).execute()
      const released = (await releasePinIfUnreferenced(trx, this.#ctx, old.cid)) ? old.cid : null
      return { request, previous: toPinRequest(old), released }
    })
  }

  async #insert(trx: Executor, accountId: string, input: PinRequestInput): Promise<PinRequest> {
    let lock = trx.selectFrom('accounts').select('id').where('id', '=', accountId)
    if (this.#ctx.dialect === 'postgres') lock = lock.forUpdate()
    if ((await lock.executeTakeFirst()) === undefined) throw notFound('account')
    const last = await trx
      .selectFrom('pin_requests')
      .select((eb) => eb.fn.max('created_at').as('m'))
      .where('account_id', '=', accountId)
      .executeTakeFirst()
    const t = now()
    const created = Math.max(t, Number(last?.m ?? 0) + 1)
    const row = {
      requestid: newId(),
      account_id: accountId,
      cid: input.cid,
      name: input.name ?? null,
      meta: JSON.stringify(input.meta ?? {}),
      origins: JSON.stringify(input.origins ?? []),
      status: 'queued',
      created_at: created,
      updated_at: t,
    }
    await trx.insertInto('pin_requests').values(row).execute()
    await ensurePin(trx, input.cid, { name: input.name ?? null, metadata: input.meta, ...input.pin })
    await addPinReference(trx, this.#ctx, input.cid, { kind: 'pin_request', id: row.requestid, accountId })
    return toPinRequest(row)
  }

  async get(accountId: string, requestid: string): Promise<PinRequest | undefined> {
    const row = await this.#ctx.db
      .selectFrom('pin_requests')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('requestid', '=', requestid)
      .executeTakeFirst()
    return row && toPinRequest(row)
  }

  /**
   * Newest first; `count` is the number of all requests matching the filters (not just
   * this page). Page with `before` = the oldest `created` seen: `created` is unique per account.
   */
  async list(accountId: string, opts: PinRequestFilter = {}): Promise<{ count: number; results: PinRequest[] }> {
    const limit = pageSize(opts.limit, 10, 1000)
    if (opts.match !== undefined && !NAME_MATCHES.includes(opts.match)) throw invalidArgument(`invalid match ${JSON.stringify(opts.match)}`)
    let q = this.#ctx.db.selectFrom('pin_requests').where('account_id', '=', accountId)
    if (opts.cids !== undefined && opts.cids.length > 0) q = q.where('cid', 'in', opts.cids)
    if (opts.status !== undefined && opts.status.length > 0) q = q.where('status', 'in', opts.status)
    if (opts.before !== undefined) q = q.where('created_at', '<', opts.before)
    if (opts.after !== undefined) q = q.where('created_at', '>', opts.after)
    if (opts.name !== undefined) {
      const name = opts.name
      const match = opts.match ?? 'exact'
      q = q.where((eb) => nameMatches(eb, this.#ctx.dialect, name, match))
    }
    for (const [key, value] of Object.entries(opts.meta ?? {})) {
      // meta is stored as compact JSON.stringify output of a flat string map, where every
      // unescaped quote is a delimiter: `{"k":"v"` or `,"k":"v"` occurs iff meta[k] === v
      const pair = `${JSON.stringify(key)}:${JSON.stringify(value)}`
      const position = this.#ctx.dialect === 'postgres' ? 'strpos' : 'instr'
      q = q.where((eb) =>
        eb.or([
          eb(sql<number>`${sql.raw(position)}(${eb.ref('meta')}, ${`{${pair}`})`, '>', 0),
          eb(sql<number>`${sql.raw(position)}(${eb.ref('meta')}, ${`,${pair}`})`, '>', 0),
        ]),
      )
    }
    const count = await q.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst()
    const rows = await q.selectAll().orderBy('created_at', 'desc').limit(limit).execute()
    return { count: Number(count?.n ?? 0), results: rows.map(toPinRequest) }
  }

  /**
   * Requests of every account in `status`, ordered by requestid and keyset-paged by
   * `after` (exclusive): for a service resuming unfinished work after a restart.
   */
  async listByStatus(status: PinRequestStatus[], opts: { after?: string; limit?: number } = {}): Promise<PinRequest[]> {
    const limit = pageSize(opts.limit, 1000, 10_000)
    if (status.length === 0) return []
    let q = this.#ctx.db.selectFrom('pin_requests').selectAll().where('status', 'in', status)
    if (opts.after !== undefined) q = q.where('requestid', '>', opts.after)
    const rows = await q.orderBy('requestid').limit(limit).execute()
    return rows.map(toPinRequest)
  }

  /**
   * Sets the status of every request for `cid` currently in `from` (of all accounts, or only of
   * `opts.accountId`); returns how many changed.
   */
  async setStatusByCid(cid: string, from: PinRequestStatus[], status: PinRequestStatus, opts: { accountId?: string } = {}): Promise<number> {
    if (!STATUSES.includes(status)) throw invalidArgument(`invalid status ${JSON.stringify(status)}`)
    if (from.length === 0) return 0
    let q = this.#ctx.db.updateTable('pin_requests').set({ status, updated_at: now() }).where('cid', '=', cid).where('status', 'in', from)
    if (opts.accountId !== undefined) q = q.where('account_id', '=', opts.accountId)
    const r = await q.executeTakeFirst()
    return Number(r.numUpdatedRows)
  }

  /** Undefined when not the account's. */
  async setStatus(accountId: string, requestid: string, status: PinRequestStatus): Promise<boolean> {
    if (!STATUSES.includes(status)) throw invalidArgument(`invalid status ${JSON.stringify(status)}`)
    const r = await this.#ctx.db
      .updateTable('pin_requests')
      .set({ status, updated_at: now() })
      .where('account_id', '=', accountId)
      .where('requestid', '=', requestid)
      .executeTakeFirst()
    return Number(r.numUpdatedRows) > 0
  }

  /** Deletes the request and releases its pin if unreferenced. Undefined when not the account's. */
  async remove(accountId: string, requestid: string): Promise<{ released: boolean } | undefined> {
    return this.#ctx.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('pin_requests')
        .select(['cid'])
        .where('account_id', '=', accountId)
        .where('requestid', '=', requestid)
        .executeTakeFirst()
      if (row === undefined) return undefined
      await removePinReference(trx, row.cid, { kind: 'pin_request', id: requestid })
      await trx.deleteFrom('pin_requests').where('requestid', '=', requestid).execute()
      return { released: await releasePinIfUnreferenced(trx, this.#ctx, row.cid) }
    })
  }
}

function checkInput(input: PinRequestInput): void {
  checkCid(input.cid)
  if (input.name != null && input.name.length > 255) throw invalidArgument('name is limited to 255 characters')
  if (input.name != null) rejectControlCharacters(input.name, 'pin name')
  if ((input.origins?.length ?? 0) > 20) throw invalidArgument('at most 20 origins')
}

function nameMatches(eb: ExpressionBuilder<RegistrySchema, 'pin_requests'>, dialect: string, name: string, match: NameMatch) {
  const position = dialect === 'postgres' ? 'strpos' : 'instr'
  switch (match) {
    case 'exact':
      return eb('name', '=', name)
    case 'iexact':
      return eb(eb.fn('lower', [eb.ref('name')]), '=', sql<string>`lower(cast(${name} as text))`)
    case 'partial':
      return eb(sql<number>`${sql.raw(position)}(${eb.ref('name')}, ${name})`, '>', 0)
    case 'ipartial':
      return eb(sql<number>`${sql.raw(position)}(lower(${eb.ref('name')}), lower(cast(${name} as text)))`, '>', 0)
  }
}
