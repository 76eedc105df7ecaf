import { PinfoldError } from '../../core/index.ts'
import { type EntryKind, parsePath, type Registry, type SearchResult } from '../../registry/index.ts'
import { cidForms } from './cid-forms.ts'

/** The registry returns at most this many matches per query; paging cannot go past it. */
export const SEARCH_WINDOW = 1000

export interface SearchQuery {
  name?: string
  pathPrefix?: string
  cid?: string
  kind?: EntryKind
  limit: number
  cursor?: string
}

export interface SearchPage {
  items: SearchResult[]
  /** Null on the last page, and at the end of the search window (refine the query). */
  nextCursor: string | null
  /** True on the last page when the window was full: more matches may exist beyond it. */
  truncated: boolean
}

/**
 * Searches the account's entries by name, path prefix and/or CID (any spelling of it),
 * one page at a time. The registry's search has no keyset cursor yet, so the cursor here
 * is an offset into one ordered window of at most {@link SEARCH_WINDOW} matches: good
 * for interactive search, not for enumerating everything (the listing does that).
 */
export async function searchEntries(registry: Registry, accountId: string, query: SearchQuery): Promise<SearchPage> {
  if (query.name === undefined && query.pathPrefix === undefined && query.cid === undefined) {
    throw new PinfoldError('ERR_VALIDATION', 'search needs name, pathPrefix or cid', { userError: true })
  }
  if (query.pathPrefix !== undefined) parsePath(query.pathPrefix)
  const offset = query.cursor === undefined ? 0 : decodeOffset(query.cursor)
  const want = Math.min(offset + query.limit + 1, SEARCH_WINDOW + 1)
  const forms = query.cid === undefined ? [undefined] : cidForms(query.cid)
  const matches: SearchResult[] = []
  for (const cid of forms) {
    const hits = await registry.entries.search(accountId, {
      name: query.name,
      pathPrefix: query.pathPrefix,
      cid,
      kind: query.kind,
      limit: Math.min(want, SEARCH_WINDOW),
    })
    matches.push(...hits)
  }
  // the registry's own order, re-established across CID spellings
  matches.sort((a, b) => compare(a.name, b.name) || b.mtime - a.mtime || compare(a.id, b.id))
  const window = matches.slice(0, SEARCH_WINDOW)
  const items = window.slice(offset, offset + query.limit)
  const end = offset + items.length
  const more = window.length > end
  return {
    items,
    nextCursor: more ? encodeOffset(end) : null,
    truncated: !more && matches.length >= SEARCH_WINDOW,
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function encodeOffset(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url')
}

function decodeOffset(cursor: string): number {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown }
    if (Number.isSafeInteger(value.o) && (value.o as number) >= 0 && (value.o as number) <= SEARCH_WINDOW) return value.o as number
  } catch {
    // fall through: any undecodable cursor is the same client mistake
  }
  throw new PinfoldError('ERR_VALIDATION', 'invalid cursor', { userError: true })
}
