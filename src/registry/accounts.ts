import type { Selectable } from 'kysely'
import { rejectControlCharacters } from '../core/control-characters.ts'
import {
  conflict,
  decodeCursor,
  encodeCursor,
  invalidArgument,
  isUniqueViolation,
  newId,
  now,
  pageSize,
  type RegistryContext,
} from './db.ts'
import { ensureLibraryRoot } from './entries.ts'
import { burnPasswordCheck, hashPassword, verifyPasswordHash } from './passwords.ts'
import type { AccountsTable } from './schema.ts'

export type Role = 'user' | 'admin'

export interface Account {
  id: string
  email: string
  role: Role
  /** Maximum bytes stored; `null` = unlimited. */
  quotaStorageBytes: number | null
  /** Maximum size of one upload; `null` = unlimited. */
  quotaUploadBytes: number | null
  createdAt: number
  disabled: boolean
}

export interface CreateAccountInput {
  email: string
  /** Omit for accounts that authenticate with API keys only. */
  password?: string
  role?: Role
  quotaStorageBytes?: number | null
  quotaUploadBytes?: number | null
}

export function toAccount(row: Omit<Selectable<AccountsTable>, 'tokens_valid_after'>): Account {
  return {
    id: row.id,
    email: row.email,
    role: row.role as Role,
    quotaStorageBytes: row.quota_storage_bytes === null ? null : Number(row.quota_storage_bytes),
    quotaUploadBytes: row.quota_upload_bytes === null ? null : Number(row.quota_upload_bytes),
    createdAt: Number(row.created_at),
    disabled: Number(row.disabled) !== 0,
  }
}

/** Lower-cased, trimmed email: the key of the case-insensitive uniqueness rule. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase()
}

const EMAIL_RE = /^[^\s@]+@[^\s@]+$/

function checkQuota(name: string, v: number | null | undefined): void {
  if (v === undefined || v === null) return
  if (!Number.isSafeInteger(v) || v < 0) throw invalidArgument(`${name} must be a non-negative integer or null`)
}

/**
 * Accounts: identity, role, quotas and password. Every method is safe to call
 * concurrently; `create` is the only one that can conflict (email already used).
 */
export class Accounts {
  readonly #ctx: RegistryContext

  constructor(ctx: RegistryContext) {
    this.#ctx = ctx
  }

  /**
   * Creates an account. Email uniqueness is case-insensitive; a duplicate throws
   * `ERR_CONFLICT`. The password is stored only as a salted scrypt hash.
   * The account's `/Library` root directory is created in the same transaction.
   */
  async create(input: CreateAccountInput): Promise<Account> {
    const email = input.email.trim()
    rejectControlCharacters(email, 'email')
    if (!EMAIL_RE.test(email) || email.length > 320) throw invalidArgument('invalid email address')
    if (input.password !== undefined && input.password.length < 8)
      throw invalidArgument('password must be at least 8 characters')
    const role = input.role ?? 'user'
    if (role !== 'user' && role !== 'admin') throw invalidArgument(`invalid role ${JSON.stringify(role)}`)
    checkQuota('quotaStorageBytes', input.quotaStorageBytes)
    checkQuota('quotaUploadBytes', input.quotaUploadBytes)
    const row = {
      id: newId(),
      email,
      email_normalized: normalizeEmail(email),
      password_hash: input.password === undefined ? null : await hashPassword(input.password),
      role,
      quota_storage_bytes: input.quotaStorageBytes ?? null,
      quota_upload_bytes: input.quotaUploadBytes ?? null,
      created_at: now(),
      disabled: 0,
    }
    try {
      await this.#ctx.db.transaction().execute(async (trx) => {
        await trx.insertInto('accounts').values(row).execute()
        await ensureLibraryRoot(trx, row.id)
      })
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict('an account with this email already exists', err)
      throw err
    }
    return toAccount(row)
  }

  async get(id: string): Promise<Account | undefined> {
    const row = await this.#ctx.db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst()
    return row && toAccount(row)
  }

  /** Case-insensitive. */
  async getByEmail(email: string): Promise<Account | undefined> {
    const row = await this.#ctx.db
      .selectFrom('accounts')
      .selectAll()
      .where('email_normalized', '=', normalizeEmail(email))
      .executeTakeFirst()
    return row && toAccount(row)
  }

  /** Admin listing, ordered by (createdAt, id), keyset-paged. */
  async list(opts: { limit?: number; cursor?: string } = {}): Promise<{ items: Account[]; cursor?: string }> {
    const limit = pageSize(opts.limit, 100, 1000)
    let q = this.#ctx.db.selectFrom('accounts').selectAll().orderBy('created_at').orderBy('id').limit(limit + 1)
    if (opts.cursor !== undefined) {
      const c = decodeCursor(opts.cursor) as [number, string]
      if (!Array.isArray(c) || typeof c[0] !== 'number' || typeof c[1] !== 'string') throw invalidArgument('invalid cursor')
      q = q.where((eb) => eb.or([eb('created_at', '>', c[0]), eb.and([eb('created_at', '=', c[0]), eb('id', '>', c[1])])]))
    }
    const rows = await q.execute()
    const items = rows.slice(0, limit).map(toAccount)
    const last = items.at(-1)
    return rows.length > limit && last ? { items, cursor: encodeCursor([last.createdAt, last.id]) } : { items }
  }

  /** Sets either quota (`null` = unlimited, `undefined` = unchanged). Returns false if no such account. */
  async setQuota(
    id: string,
    quota: { storageBytes?: number | null; uploadBytes?: number | null },
  ): Promise<boolean> {
    checkQuota('storageBytes', quota.storageBytes)
    checkQuota('uploadBytes', quota.uploadBytes)
    const set: { quota_storage_bytes?: number | null; quota_upload_bytes?: number | null } = {}
    if (quota.storageBytes !== undefined) set.quota_storage_bytes = quota.storageBytes
    if (quota.uploadBytes !== undefined) set.quota_upload_bytes = quota.uploadBytes
    if (Object.keys(set).length === 0) return (await this.get(id)) !== undefined
    const r = await this.#ctx.db.updateTable('accounts').set(set).where('id', '=', id).executeTakeFirst()
    return Number(r.numUpdatedRows) > 0
  }

  /** Also ends every access token issued so far (see `TokenRevocations`). */
  async setDisabled(id: string, disabled: boolean): Promise<boolean> {
    const r = await this.#ctx.db
      .updateTable('accounts')
      .set({ disabled: disabled ? 1 : 0, tokens_valid_after: now() })
      .where('id', '=', id)
      .executeTakeFirst()
    return Number(r.numUpdatedRows) > 0
  }

  /** Also ends every access token issued so far: they carry the old role. */
  async setRole(id: string, role: Role): Promise<boolean> {
    if (role !== 'user' && role !== 'admin') throw invalidArgument(`invalid role ${JSON.stringify(role)}`)
    const r = await this.#ctx.db.updateTable('accounts').set({ role, tokens_valid_after: now() }).where('id', '=', id).executeTakeFirst()
    return Number(r.numUpdatedRows) > 0
  }

  /** Also ends every access token issued so far (a changed password signs out every session). */
  async setPassword(id: string, password: string): Promise<boolean> {
    if (password.length < 8) throw invalidArgument('password must be at least 8 characters')
    const hash = await hashPassword(password)
    const r = await this.#ctx.db
      .updateTable('accounts')
      .set({ password_hash: hash, tokens_valid_after: now() })
      .where('id', '=', id)
      .executeTakeFirst()
    return Number(r.numUpdatedRows) > 0
  }

  /** True when at least one admin account exists (first-start bootstrap). */
  async hasAdmin(): Promise<boolean> {
    const row = await this.#ctx.db.selectFrom('accounts').select('id').where('role', '=', 'admin').limit(1).executeTakeFirst()
    return row !== undefined
  }

  /** True when `password` matches the account's password. False for unknown ids and accounts without one. */
  async verifyPassword(id: string, password: string): Promise<boolean> {
    const row = await this.#ctx.db.selectFrom('accounts').select('password_hash').where('id', '=', id).executeTakeFirst()
    if (row?.password_hash == null) {
      await burnPasswordCheck(password)
      return false
    }
    return verifyPasswordHash(password, row.password_hash)
  }

  /**
   * Email + password login. Returns the account, or undefined for an unknown email, a wrong
   * password or a disabled account (indistinguishable to the caller, and similar in timing).
   */
  async authenticatePassword(email: string, password: string): Promise<Account | undefined> {
    const row = await this.#ctx.db
      .selectFrom('accounts')
      .selectAll()
      .where('email_normalized', '=', normalizeEmail(email))
      .executeTakeFirst()
    if (row?.password_hash == null) {
      await burnPasswordCheck(password)
      return undefined
    }
    const ok = await verifyPasswordHash(password, row.password_hash)
    if (!ok || Number(row.disabled) !== 0) return undefined
    return toAccount(row)
  }
}

