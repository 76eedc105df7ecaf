import Type from 'typebox'
import { PinfoldError } from '../../core/index.ts'
import { type Entry, parsePath, type Registry } from '../../registry/index.ts'
import { ForbiddenError, type Principal } from '../auth/principal.ts'
import { cidForms } from './cid-forms.ts'

/** Query property letting an admin act on another account's tree (`?accountId=`). */
export const AccountIdQuery = Type.Optional(
  Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$', description: 'admin only: act on this account' }),
)

/** Absolute registry path as a query parameter; its syntax is checked by the registry's parser. */
export const PathQuery = Type.String({ minLength: 1, maxLength: 8192, description: 'absolute path, /Library/…' })

export function notFound(what: string): PinfoldError {
  return new PinfoldError('ERR_NOT_FOUND', `${what} not found`, { userError: true })
}

/**
 * The account whose tree a request works on: the caller's own, or — for an admin token
 * only — the one named by `?accountId=`. Everyone else asking for another account is
 * refused outright rather than silently served their own tree.
 */
export function accountScope(principal: Principal, requested: string | undefined): string {
  if (requested === undefined || requested === principal.accountId) return principal.accountId
  if (principal.role !== 'admin' || !principal.scopes.has('admin')) throw new ForbiddenError('accountId is for admins only')
  return requested
}

/** The account's entry `id`; another account's id is simply not found. */
export async function entryById(registry: Registry, accountId: string, id: string): Promise<Entry> {
  const entry = await registry.entries.get(accountId, id)
  if (entry === undefined) throw notFound(`entry ${id}`)
  return entry
}

/** The account's entry at `path` (the newest version by mtime when several). */
export async function entryByPath(registry: Registry, accountId: string, path: string): Promise<Entry> {
  parsePath(path) // ERR_INVALID_PATH before any lookup, so `..` is a 400, not a 404
  const entry = await registry.entries.getByPath(accountId, path)
  if (entry === undefined) throw notFound(`path ${path}`)
  return entry
}

/** Absolute path of an entry known to exist (it may vanish concurrently: then not found). */
export async function pathOfEntry(registry: Registry, accountId: string, entry: Entry): Promise<string> {
  const path = await registry.entries.pathOf(accountId, entry.id)
  if (path === undefined) throw notFound(`entry ${entry.id}`)
  return path
}

/**
 * One of the account's entries whose CID is `cid` in any of its spellings (a CIDv0 and
 * its CIDv1 twin name the same content). Pin requests do not count: downloads by CID are
 * for content the account holds as files or folders.
 */
export async function entryByCid(registry: Registry, accountId: string, cid: string): Promise<Entry> {
  for (const form of cidForms(cid)) {
    const [hit] = await registry.entries.search(accountId, { cid: form, limit: 1 })
    if (hit !== undefined) return hit
  }
  throw notFound(`CID ${cid}`)
}
