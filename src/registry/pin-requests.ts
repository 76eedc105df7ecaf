import type { Selectable } from 'kysely'
import { invalidArgument, newId, notFound, now, pageSize, parseJson, type RegistryContext } from './db.ts'
import { addPinReference, checkCid, ensurePin, type PinOptions, releasePinIfUnreferenced, removePinReference } from './pins.ts'
import type { PinRequestsTable } from './schema.ts'

export type PinRequestStatus = 'queued' | 'pinning' | 'pinned' | 'failed'
const STATUSES: readonly PinRequestStatus[] = ['queued', 'pinning', 'pinned', 'failed']

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
  async create(
    accountId: string,
    input: { cid: string; name?: string | null; meta?: Record<string, string>; origins?: string[]; pin?: PinOptions },
  ): Promise<PinRequest> {
    checkCid(input.cid)
    if (input.name != null && input.name.length > 255) throw invalidArgument('name is limited to 255 characters')
    if ((input.origins?.length ?? 0) > 20) throw invalidArgument('at most 20 origins')
    return this.#ctx.db.transaction().execute(async (trx) => {
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
      await addPinReference(trx, input.cid, { kind: 'pin_request', id: row.requestid, accountId })
      return toPinRequest(row)
    })
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

  /** Newest first; `before`/`after` are exclusive bounds on `created`. */
  async list(
    accountId: string,
    opts: { cids?: string[]; status?: PinRequestStatus[]; before?: number; after?: number; limit?: number } = {},
  ): Promise<{ count: number; results: PinRequest[] }> {
    const limit = pageSize(opts.limit, 10, 1000)
    let q = this.#ctx.db.selectFrom('pin_requests').where('account_id', '=', accountId)
    if (opts.cids !== undefined && opts.cids.length > 0) q = q.where('cid', 'in', opts.cids)
    if (opts.status !== undefined && opts.status.length > 0) q = q.where('status', 'in', opts.status)
    if (opts.before !== undefined) q = q.where('created_at', '<', opts.before)
    if (opts.after !== undefined) q = q.where('created_at', '>', opts.after)
    const count = await q.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst()
    const rows = await q.selectAll().orderBy('created_at', 'desc').limit(limit).execute()
    return { count: Number(count?.n ?? 0), results: rows.map(toPinRequest) }
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
