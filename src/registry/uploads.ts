import type { Selectable } from 'kysely'
import { conflict, invalidArgument, newId, now, pageSize, type RegistryContext } from './db.ts'
import { parsePath } from './paths.ts'
import type { UploadsTable } from './schema.ts'

export type UploadStatus = 'receiving' | 'importing' | 'saving' | 'done' | 'error'
const STATUSES: readonly UploadStatus[] = ['receiving', 'importing', 'saving', 'done', 'error']
const TERMINAL: readonly UploadStatus[] = ['done', 'error']

export interface Upload {
  id: string
  accountId: string
  status: UploadStatus
  /** Stage the upload failed at (with `error`) or is in, free text. */
  stage: string | null
  reason: string | null
  /** Directory path the upload lands in, e.g. `/Library/photos`. */
  targetPath: string
  name: string | null
  bytes: number
  cid: string | null
  createdAt: number
  updatedAt: number
}

function toUpload(row: Selectable<UploadsTable>): Upload {
  return {
    id: row.id,
    accountId: row.account_id,
    status: row.status as UploadStatus,
    stage: row.stage,
    reason: row.reason,
    targetPath: row.target_path,
    name: row.name,
    bytes: Number(row.bytes),
    cid: row.cid,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  }
}

/**
 * Uploads: the status of each upload (`receiving → importing → saving → done | error`).
 * `done` and `error` are terminal: a later `setStatus` throws ERR_CONFLICT, so a
 * completed upload's record never regresses.
 */
export class Uploads {
  readonly #ctx: RegistryContext

  constructor(ctx: RegistryContext) {
    this.#ctx = ctx
  }

  /**
   * Starts an upload in status `receiving`. `bytes` is what it declared it will bring (a
   * tus `Upload-Length`): reserved against the account's quota while it is open.
   */
  async create(accountId: string, input: { targetPath: string; name?: string; id?: string; bytes?: number }): Promise<Upload> {
    parsePath(input.targetPath)
    if (input.bytes !== undefined && (!Number.isSafeInteger(input.bytes) || input.bytes < 0)) throw invalidArgument('bytes must be a non-negative integer')
    const t = now()
    const row = {
      id: input.id ?? newId(),
      account_id: accountId,
      status: 'receiving',
      stage: null,
      reason: null,
      target_path: input.targetPath,
      name: input.name ?? null,
      bytes: input.bytes ?? 0,
      cid: null,
      created_at: t,
      updated_at: t,
      owner_id: this.#ctx.replicaId ?? null,
    }
    await this.#ctx.db.insertInto('uploads').values(row).execute()
    return toUpload(row)
  }

  /**
   * Moves an upload to `status`, updating the given fields. Undefined when the upload is
   * not the account's; ERR_CONFLICT when it is already terminal.
   */
  async setStatus(
    accountId: string,
    id: string,
    status: UploadStatus,
    fields: { stage?: string | null; reason?: string | null; bytes?: number; cid?: string | null } = {},
  ): Promise<Upload | undefined> {
    if (!STATUSES.includes(status)) throw invalidArgument(`invalid upload status ${JSON.stringify(status)}`)
    if (fields.bytes !== undefined && (!Number.isSafeInteger(fields.bytes) || fields.bytes < 0))
      throw invalidArgument('bytes must be a non-negative integer')
    return this.#ctx.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('uploads')
        .selectAll()
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .executeTakeFirst()
      if (row === undefined) return undefined
      if (TERMINAL.includes(row.status as UploadStatus)) throw conflict(`upload ${id} is already ${row.status}`)
      const next = {
        ...row,
        status,
        stage: fields.stage === undefined ? row.stage : fields.stage,
        reason: fields.reason === undefined ? row.reason : fields.reason,
        bytes: fields.bytes ?? row.bytes,
        cid: fields.cid === undefined ? row.cid : fields.cid,
        updated_at: now(),
      }
      await trx
        .updateTable('uploads')
        .set({
          status: next.status,
          stage: next.stage,
          reason: next.reason,
          bytes: next.bytes,
          cid: next.cid,
          updated_at: next.updated_at,
        })
        .where('id', '=', id)
        .execute()
      return toUpload(next)
    })
  }

  async get(accountId: string, id: string): Promise<Upload | undefined> {
    const row = await this.#ctx.db
      .selectFrom('uploads')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .executeTakeFirst()
    return row && toUpload(row)
  }

  /** The account's uploads, newest first. */
  async list(accountId: string, opts: { limit?: number } = {}): Promise<Upload[]> {
    const rows = await this.#ctx.db
      .selectFrom('uploads')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(pageSize(opts.limit, 100, 1000))
      .execute()
    return rows.map(toUpload)
  }

  /**
   * The account's open (`receiving`) uploads: how many, and the bytes they reserve
   * (declared lengths), leaving out `exceptId` (an upload checking its own quota).
   */
  async open(accountId: string, exceptId?: string): Promise<{ count: number; reservedBytes: number }> {
    let query = this.#ctx.db
      .selectFrom('uploads')
      .select((eb) => [eb.fn.countAll().as('n'), eb.fn.sum<number | string | null>('bytes').as('bytes')])
      .where('account_id', '=', accountId)
      .where('status', '=', 'receiving')
    if (exceptId !== undefined) query = query.where('id', '!=', exceptId)
    const r = await query.executeTakeFirst()
    return { count: Number(r?.n ?? 0), reservedBytes: Number(r?.bytes ?? 0) }
  }

  /**
   * Deletes an upload that is still `receiving` (abandoned, expired or terminated by its
   * client); true when a row went. Finished uploads are history and stay.
   */
  async removeOpen(accountId: string, id: string): Promise<boolean> {
    const r = await this.#ctx.db
      .deleteFrom('uploads')
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .where('status', '=', 'receiving')
      .executeTakeFirst()
    return Number(r.numDeletedRows) > 0
  }

  /** Number of uploads not yet done or failed, all accounts (metrics). */
  async countActive(): Promise<number> {
    const r = await this.#ctx.db
      .selectFrom('uploads')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('status', 'not in', [...TERMINAL])
      .executeTakeFirst()
    return Number(r?.n ?? 0)
  }

  /**
   * Admin/recovery: every upload not yet done or failed (e.g. to fail them after a crash),
   * except those owned by `exceptOwners` (live replicas, still receiving them).
   */
  async listUnfinished(options: { exceptOwners?: string[] } = {}): Promise<Upload[]> {
    const owners = options.exceptOwners ?? []
    const rows = await this.#ctx.db
      .selectFrom('uploads')
      .selectAll()
      .where('status', 'not in', [...TERMINAL])
      .$if(owners.length > 0, (q) => q.where((eb) => eb.or([eb('owner_id', 'is', null), eb('owner_id', 'not in', owners)])))
      .orderBy('created_at')
      .execute()
    return rows.map(toUpload)
  }
}
