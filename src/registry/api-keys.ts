import { createHash, randomBytes } from 'node:crypto'
import type { Selectable } from 'kysely'
import { rejectControlCharacters } from '../core/control-characters.ts'
import { type Account, toAccount } from './accounts.ts'
import { invalidArgument, newId, now, type RegistryContext } from './db.ts'
import type { ApiKeysTable } from './schema.ts'

export type Scope = 'read' | 'write' | 'admin'
const SCOPES: readonly Scope[] = ['read', 'write', 'admin']

/** Secrets look like `pfk_` + 43 base64url characters (256 random bits). */
export const API_KEY_SECRET_PREFIX = 'pfk_'
/** How many leading characters of the secret are kept for display (`pfk_` + 8). */
export const API_KEY_DISPLAY_PREFIX_LENGTH = 12
/** `lastUsedAt` is written at most this often per key, so authentication is (almost) read-only. */
const LAST_USED_RESOLUTION_MS = 60_000

export interface ApiKey {
  id: string
  accountId: string
  description: string
  /** First characters of the secret, for display ("pfk_AbCd1234…"). */
  prefix: string
  scopes: Scope[]
  expiresAt: number | null
  revokedAt: number | null
  createdAt: number
  lastUsedAt: number | null
}

function toApiKey(row: Selectable<ApiKeysTable>): ApiKey {
  return {
    id: row.id,
    accountId: row.account_id,
    description: row.description,
    prefix: row.prefix,
    scopes: row.scopes.split(',').filter((s): s is Scope => (SCOPES as readonly string[]).includes(s)),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
    createdAt: Number(row.created_at),
    lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
  }
}

/**
 * The stored form of a secret. A fast, unsalted SHA-256 is deliberate and sufficient here:
 * secrets are 256 random bits, so neither brute force nor precomputed tables are feasible
 * (slow salted hashes exist to protect low-entropy human passwords). A deterministic hash
 * also lets `authenticate` find the key with one indexed lookup instead of trying every key.
 */
export function hashApiKeySecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex')
}

/**
 * API keys: long-lived secrets that programs exchange for access tokens. The secret is
 * returned once by `create` and only its hash is stored.
 */
export class ApiKeys {
  readonly #ctx: RegistryContext

  constructor(ctx: RegistryContext) {
    this.#ctx = ctx
  }

  /**
   * Creates a key for `accountId`. `expiresAt` (ms epoch) defaults to never; scopes default
   * to read+write. Returns the stored key and the secret, which cannot be recovered later.
   */
  async create(
    accountId: string,
    input: { description?: string; scopes?: Scope[]; expiresAt?: number | null } = {},
  ): Promise<{ key: ApiKey; secret: string }> {
    const scopes = input.scopes ?? ['read', 'write']
    if (scopes.length === 0 || !scopes.every((s) => SCOPES.includes(s)))
      throw invalidArgument(`scopes must be a non-empty subset of ${SCOPES.join(', ')}`)
    const description = input.description ?? ''
    if (description.length > 200) throw invalidArgument('description is limited to 200 characters')
    rejectControlCharacters(description, 'key description')
    if (input.expiresAt != null && !Number.isSafeInteger(input.expiresAt)) throw invalidArgument('invalid expiresAt')
    const secret = API_KEY_SECRET_PREFIX + randomBytes(32).toString('base64url')
    const row = {
      id: newId(),
      account_id: accountId,
      description,
      prefix: secret.slice(0, API_KEY_DISPLAY_PREFIX_LENGTH),
      secret_hash: hashApiKeySecret(secret),
      scopes: [...new Set(scopes)].join(','),
      expires_at: input.expiresAt ?? null,
      revoked_at: null,
      created_at: now(),
      last_used_at: null,
    }
    await this.#ctx.db.insertInto('api_keys').values(row).execute()
    return { key: toApiKey(row), secret }
  }

  /** The account's keys (revoked and expired included), newest first. */
  async list(accountId: string): Promise<ApiKey[]> {
    const rows = await this.#ctx.db
      .selectFrom('api_keys')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute()
    return rows.map(toApiKey)
  }

  async get(accountId: string, id: string): Promise<ApiKey | undefined> {
    const row = await this.#ctx.db
      .selectFrom('api_keys')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .executeTakeFirst()
    return row && toApiKey(row)
  }

  /**
   * Revokes a key at once. Idempotent: revoking an already revoked key returns true and keeps
   * the first revocation time. False when the key does not exist for this account.
   */
  async revoke(accountId: string, id: string): Promise<boolean> {
    await this.#ctx.db
      .updateTable('api_keys')
      .set({ revoked_at: now() })
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .execute()
    return (await this.get(accountId, id)) !== undefined
  }

  /**
   * Finds the live key for a secret: not revoked, not expired, account not disabled.
   * Returns undefined otherwise. Updates `lastUsedAt` at most once a minute per key.
   */
  async authenticate(secret: string, at: number = now()): Promise<{ key: ApiKey; account: Account } | undefined> {
    if (typeof secret !== 'string' || !secret.startsWith(API_KEY_SECRET_PREFIX) || secret.length > 100) return undefined
    const row = await this.#ctx.db
      .selectFrom('api_keys as k')
      .innerJoin('accounts as a', 'a.id', 'k.account_id')
      .selectAll('k')
      .select([
        'a.email',
        'a.email_normalized',
        'a.password_hash',
        'a.role',
        'a.quota_storage_bytes',
        'a.quota_upload_bytes',
        'a.created_at as account_created_at',
        'a.disabled',
      ])
      .where('k.secret_hash', '=', hashApiKeySecret(secret))
      .executeTakeFirst()
    if (row === undefined) return undefined
    const key = toApiKey(row)
    if (key.revokedAt !== null) return undefined
    if (key.expiresAt !== null && key.expiresAt <= at) return undefined
    const account = toAccount({
      id: row.account_id,
      email: row.email,
      email_normalized: row.email_normalized,
      password_hash: null,
      role: row.role,
      quota_storage_bytes: row.quota_storage_bytes,
      quota_upload_bytes: row.quota_upload_bytes,
      created_at: row.account_created_at,
      disabled: row.disabled,
    })
    if (account.disabled) return undefined
    if (key.lastUsedAt === null || at - key.lastUsedAt > LAST_USED_RESOLUTION_MS) {
      await this.#ctx.db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', key.id).execute()
      key.lastUsedAt = at
    }
    return { key, account }
  }
}
