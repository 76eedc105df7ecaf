import { type ExpressionBuilder, type Selectable, sql } from 'kysely'
import { PinfoldError } from '../core/errors.ts'
import {
  conflict,
  decodeCursor,
  encodeCursor,
  type Executor,
  invalidArgument,
  isUniqueViolation,
  newId,
  notFound,
  now,
  pageSize,
  type RegistryContext,
} from './db.ts'
import { formatPath, invalidPath, LIBRARY, parsePath, validateName } from './paths.ts'
import {
  addPinReference,
  checkCid,
  ensurePin,
  type PinOptions,
  releasePinIfUnreferenced,
  removePinReference,
} from './pins.ts'
import type { EntriesTable, RegistrySchema } from './schema.ts'

export type EntryKind = 'directory' | 'folder' | 'file'

/**
 * An account's named reference at a path. Directories are editable containers (no CID);
 * folders and files carry a CID. A file/folder path may hold several *versions* (rows with
 * the same parent and name); the newest by `mtime` (then by `version`, the insertion
 * order at that path) is the one a path resolves to.
 */
export interface Entry {
  id: string
  accountId: string
  /** null only for the account's `/Library` root. */
  parentId: string | null
  name: string
  kind: EntryKind
  cid: string | null
  size: number
  /** Modification time, ms since epoch (client-supplied for uploads). */
  mtime: number
  /** 1, 2, 3… in insertion order among the versions at this path; 1 for directories. */
  version: number
  createdAt: number
  updatedAt: number
}

export interface SearchResult extends Entry {
  /** Absolute path, e.g. `/Library/a/b.txt`. */
  path: string
}

export type ListSort = 'name' | 'mtime' | 'size' | 'created'

export interface ListOptions {
  /** Page size, default 100, at most 1000. */
  limit?: number
  /** Opaque cursor from the previous page. */
  cursor?: string
  /** Sort key (default `name`); ties are broken by id, so paging is stable. */
  sort?: ListSort
  order?: 'asc' | 'desc'
  /** `latest` (default): one row per name, its newest version. `all`: every version. */
  versions?: 'latest' | 'all'
}

export interface AddContentInput {
  name: string
  cid: string
  size: number
  /** Default: now. */
  mtime?: number
  /** Create missing directories on the way to the target directory (default false). */
  createParents?: boolean
  /** Options for the pin when this CID is new to the registry. */
  pin?: PinOptions
}

export interface RemoveResult {
  /** How many entry rows were deleted (directory contents and versions included). */
  removedEntries: number
  /** CIDs whose pin was released because nothing references them any more. */
  releasedCids: string[]
}

type Row = Selectable<EntriesTable>

const SORT_COLUMNS = { name: 'name', mtime: 'mtime', size: 'size', created: 'created_at' } as const
const CHUNK = 500

export function toEntry(row: Row): Entry {
  return {
    id: row.id,
    accountId: row.account_id,
    parentId: row.parent_id,
    name: row.name,
    kind: row.kind as EntryKind,
    cid: row.cid,
    size: Number(row.size),
    mtime: Number(row.mtime),
    version: Number(row.version),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  }
}

function checkNonNegative(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw invalidArgument(`${name} must be a non-negative integer`)
}

function chunks<T>(items: T[], size = CHUNK): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** `e2` is a newer version than `entries` at the same path. */
function newerVersionExists(eb: ExpressionBuilder<RegistrySchema, 'entries'>) {
  return eb.exists(
    eb
      .selectFrom('entries as e2')
      .select('e2.id')
      .whereRef('e2.account_id', '=', 'entries.account_id')
      .whereRef('e2.parent_id', '=', 'entries.parent_id')
      .whereRef('e2.name', '=', 'entries.name')
      .where((w) =>
        w.or([
          w('e2.mtime', '>', w.ref('entries.mtime')),
          w.and([w('e2.mtime', '=', w.ref('entries.mtime')), w('e2.version', '>', w.ref('entries.version'))]),
        ]),
      ),
  )
}

/** Creates the account's `/Library` root if absent and returns it. Idempotent. */
export async function ensureLibraryRoot(trx: Executor, accountId: string): Promise<Entry> {
  const t = now()
  await trx
    .insertInto('entries')
    .values({
      id: newId(),
      account_id: accountId,
      parent_id: null,
      name: LIBRARY,
      kind: 'directory',
      cid: null,
      size: 0,
      mtime: t,
      version: 1,
      created_at: t,
      updated_at: t,
    })
    .onConflict((oc) => oc.doNothing())
    .execute()
  const row = await trx
    .selectFrom('entries')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('parent_id', 'is', null)
    .executeTakeFirstOrThrow()
  return toEntry(row)
}

/**
 * Entries: each account's tree under `/Library`. Every method is scoped by account id:
 * ids and paths of other accounts behave as not found (undefined/false). Writes run in one
 * transaction each; on PostgreSQL the target directory's row is locked first, so concurrent
 * writers into one directory serialise (SQLite serialises all writers).
 *
 * Path resolution goes segment by segment, one probe per segment on the index
 * `(account_id, parent_id, name, mtime)`; no materialised path, so rename and move of a
 * directory are O(1) whatever its size.
 */
export class Entries {
  readonly #ctx: RegistryContext

  constructor(ctx: RegistryContext) {
    this.#ctx = ctx
  }

  /** Creates the `/Library` root if missing; returns it. Idempotent. */
  async ensureLibrary(accountId: string): Promise<Entry> {
    return this.#ctx.db.transaction().execute((trx) => ensureLibraryRoot(trx, accountId))
  }

  async #root(ex: Executor, accountId: string): Promise<Row | undefined> {
    return ex
      .selectFrom('entries')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('parent_id', 'is', null)
      .executeTakeFirst()
  }

  /** The account's row `id`; another account's id is simply absent. */
  async #owned(ex: Executor, accountId: string, id: string): Promise<Row | undefined> {
    return ex.selectFrom('entries').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst()
  }

  /** The newest row named `name` in `parentId` (the directory itself when it is one). */
  async #child(ex: Executor, accountId: string, parentId: string, name: string): Promise<Row | undefined> {
    return ex
      .selectFrom('entries')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('parent_id', '=', parentId)
      .where('name', '=', name)
      .orderBy('mtime', 'desc')
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst()
  }

  async #resolveRow(ex: Executor, accountId: string, segments: string[]): Promise<{ row: Row; remainder: string[] } | undefined> {
    let row = await this.#root(ex, accountId)
    if (row === undefined) return undefined
    for (let i = 0; i < segments.length; i++) {
      if (row.kind === 'folder') return { row, remainder: segments.slice(i) }
      if (row.kind !== 'directory') return undefined
      const next: Row | undefined = await this.#child(ex, accountId, row.id, segments[i] as string)
      if (next === undefined) return undefined
      row = next
    }
    return { row, remainder: [] }
  }

  /**
   * Resolves a path as far as the registry knows it. When the path runs into a folder
   * (an immutable UnixFS directory), returns the folder and the remaining segments to look
   * up inside its DAG. Undefined when a segment is missing or crosses a file.
   * Throws ERR_INVALID_PATH for malformed paths.
   */
  async resolve(accountId: string, path: string): Promise<{ entry: Entry; remainder: string[] } | undefined> {
    const r = await this.#resolveRow(this.#ctx.db, accountId, parsePath(path))
    return r && { entry: toEntry(r.row), remainder: r.remainder }
  }

  /** The entry at `path` (newest version when several), or undefined. */
  async getByPath(accountId: string, path: string): Promise<Entry | undefined> {
    const r = await this.resolve(accountId, path)
    return r && r.remainder.length === 0 ? r.entry : undefined
  }

  async get(accountId: string, id: string): Promise<Entry | undefined> {
    const row = await this.#owned(this.#ctx.db, accountId, id)
    return row && toEntry(row)
  }

  /** Absolute path of an entry, or undefined when it is not the account's. */
  async pathOf(accountId: string, id: string): Promise<string | undefined> {
    return this.#pathOf(this.#ctx.db, accountId, id)
  }

  async #pathOf(ex: Executor, accountId: string, id: string): Promise<string | undefined> {
    const r = await sql<{ name: string; parent_id: string | null; depth: number }>`
      with recursive anc(id, parent_id, name, depth) as (
        select id, parent_id, name, 0 from entries where id = ${id} and account_id = ${accountId}
        union all
        select e.id, e.parent_id, e.name, anc.depth + 1
          from entries e join anc on e.id = anc.parent_id
          where e.account_id = ${accountId} and anc.depth < 1000
      )
      select name, parent_id, depth from anc order by depth desc`.execute(ex)
    if (r.rows.length === 0) return undefined
    return formatPath(r.rows.slice(1).map((x) => x.name))
  }

  /** All versions at the path of `name` inside directory `dirId`, newest first. */
  async versions(accountId: string, dirId: string, name: string): Promise<Entry[]> {
    const rows = await this.#ctx.db
      .selectFrom('entries')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('parent_id', '=', dirId)
      .where('name', '=', name)
      .orderBy('mtime', 'desc')
      .orderBy('version', 'desc')
      .execute()
    return rows.map(toEntry)
  }

  /**
   * One page of a directory's children, keyset-paged (stable under concurrent inserts:
   * no row is returned twice). Undefined when `dirId` is not one of the account's
   * directories.
   */
  async list(accountId: string, dirId: string, opts: ListOptions = {}): Promise<{ items: Entry[]; cursor?: string } | undefined> {
    const dir = await this.get(accountId, dirId)
    if (dir === undefined || dir.kind !== 'directory') return undefined
    const limit = pageSize(opts.limit, 100, 1000)
    const sortKey = opts.sort ?? 'name'
    const col = SORT_COLUMNS[sortKey]
    if (col === undefined) throw invalidArgument(`invalid sort ${JSON.stringify(sortKey)}`)
    const order = opts.order ?? 'asc'
    if (order !== 'asc' && order !== 'desc') throw invalidArgument('order must be asc or desc')
    let q = this.#ctx.db
      .selectFrom('entries')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('parent_id', '=', dirId)
    if ((opts.versions ?? 'latest') === 'latest') q = q.where((eb) => eb.not(newerVersionExists(eb)))
    if (opts.cursor !== undefined) {
      const c = decodeCursor(opts.cursor)
      if (!Array.isArray(c) || c.length !== 2 || typeof c[1] !== 'string' || (typeof c[0] !== 'string' && typeof c[0] !== 'number'))
        throw invalidArgument('invalid cursor')
      const [v, id] = c as [string | number, string]
      const cmp = order === 'asc' ? '>' : '<'
      q = q.where((eb) => eb.or([eb(col, cmp, v as never), eb.and([eb(col, '=', v as never), eb('id', cmp, id)])]))
    }
    const rows = await q.orderBy(col, order).orderBy('id', order).limit(limit + 1).execute()
    const items = rows.slice(0, limit).map(toEntry)
    const last = rows[limit - 1]
    if (rows.length > limit && last !== undefined) {
      return { items, cursor: encodeCursor([last[col], last.id]) }
    }
    return { items }
  }

  /**
   * Finds the account's entries by name (case-insensitive substring), CID (exact) and/or
   * path prefix (a directory: its whole subtree). At least one criterion is required.
   * Every version matches; ordered by name, newest first, at most `limit` (default 100, ≤1000).
   */
  async search(
    accountId: string,
    query: { name?: string; pathPrefix?: string; cid?: string; kind?: EntryKind; limit?: number },
  ): Promise<SearchResult[]> {
    const limit = pageSize(query.limit, 100, 1000)
    if (query.name === undefined && query.pathPrefix === undefined && query.cid === undefined)
      throw invalidArgument('search needs name, pathPrefix or cid')
    let q = this.#ctx.db.selectFrom('entries').selectAll().where('account_id', '=', accountId).where('parent_id', 'is not', null)
    if (query.name !== undefined) {
      if (query.name.length > 255) throw invalidArgument('name query is limited to 255 characters')
      const pattern = `%${query.name.toLowerCase().replace(/[\\%_]/g, (m) => `\\${m}`)}%`
      q = q.where(sql<boolean>`lower(name) like ${pattern} escape '\\'`)
    }
    if (query.cid !== undefined) q = q.where('cid', '=', query.cid)
    if (query.kind !== undefined) q = q.where('kind', '=', query.kind)
    if (query.pathPrefix !== undefined) {
      const base = await this.getByPath(accountId, query.pathPrefix)
      if (base === undefined || base.kind !== 'directory') return []
      q = q.where(
        'parent_id',
        'in',
        sql<string>`(with recursive sub(id) as (
            select id from entries where id = ${base.id} and account_id = ${accountId}
            union all
            select e.id from entries e join sub on e.parent_id = sub.id
              where e.account_id = ${accountId} and e.kind = 'directory'
          ) select id from sub)`,
      )
    }
    const rows = await q.orderBy('name').orderBy('mtime', 'desc').orderBy('id').limit(limit).execute()
    const out: SearchResult[] = []
    for (const row of rows) {
      const path = await this.#pathOf(this.#ctx.db, accountId, row.id)
      if (path !== undefined) out.push({ ...toEntry(row), path })
    }
    return out
  }

  async #lock(trx: Executor, id: string): Promise<void> {
    if (this.#ctx.dialect === 'postgres') {
      await trx.selectFrom('entries').select('id').where('id', '=', id).forUpdate().execute()
    }
  }

  /** Resolves a directory path inside a transaction, creating missing directories if asked. */
  async #dirForWrite(trx: Executor, accountId: string, segments: string[], create: boolean): Promise<Row> {
    let dir = await this.#root(trx, accountId)
    if (dir === undefined) {
      if (!create) throw notFound('directory /Library')
      dir = await this.#rowOf(trx, (await ensureLibraryRoot(trx, accountId)).id)
    }
    for (let i = 0; i < segments.length; i++) {
      const name = segments[i] as string
      const next = await this.#child(trx, accountId, dir.id, name)
      if (next === undefined) {
        if (!create) throw notFound(`directory ${formatPath(segments.slice(0, i + 1))}`)
        dir = await this.#insertDirectory(trx, accountId, dir.id, name)
      } else if (next.kind !== 'directory') {
        throw conflict(`${formatPath(segments.slice(0, i + 1))} is a ${next.kind}, not a directory`)
      } else {
        dir = next
      }
    }
    await this.#lock(trx, dir.id)
    return dir
  }

  async #rowOf(ex: Executor, id: string): Promise<Row> {
    return ex.selectFrom('entries').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
  }

  async #insertDirectory(trx: Executor, accountId: string, parentId: string, name: string): Promise<Row> {
    await this.#lock(trx, parentId)
    const t = now()
    const row: Row = {
      id: newId(),
      account_id: accountId,
      parent_id: parentId,
      name,
      kind: 'directory',
      cid: null,
      size: 0,
      mtime: t,
      version: 1,
      created_at: t,
      updated_at: t,
    }
    const existing = await this.#child(trx, accountId, parentId, name)
    if (existing !== undefined) throw conflict(`${name} already exists`)
    await trx.insertInto('entries').values(row).execute()
    return row
  }

  /**
   * Creates a directory. With `recursive`, creates missing parents and returns an existing
   * directory unchanged (idempotent); without, the parent must exist and the name be free
   * (else ERR_NOT_FOUND / ERR_CONFLICT).
   */
  async mkdir(accountId: string, path: string, opts: { recursive?: boolean } = {}): Promise<Entry> {
    const segments = parsePath(path)
    if (segments.length === 0) {
      if (opts.recursive) return this.ensureLibrary(accountId)
      throw conflict('/Library already exists')
    }
    return this.#write(async (trx) => {
      const parent = await this.#dirForWrite(trx, accountId, segments.slice(0, -1), opts.recursive === true)
      const name = segments.at(-1) as string
      const existing = await this.#child(trx, accountId, parent.id, name)
      if (existing !== undefined) {
        if (opts.recursive && existing.kind === 'directory') return toEntry(existing)
        throw conflict(`${path} already exists`)
      }
      return toEntry(await this.#insertDirectory(trx, accountId, parent.id, name))
    })
  }

  /** Adds a file version at `dirPath/name`. See {@link addContent}. */
  async addFile(accountId: string, dirPath: string, input: AddContentInput): Promise<Entry> {
    return this.addContent(accountId, dirPath, 'file', input)
  }

  /** Adds a folder (one immutable UnixFS directory) version at `dirPath/name`. */
  async addFolder(accountId: string, dirPath: string, input: AddContentInput): Promise<Entry> {
    return this.addContent(accountId, dirPath, 'folder', input)
  }

  /**
   * Adds a new version at `dirPath/name` referencing `cid`, ensures the CID's pin and
   * references it — atomically. Never overwrites: an existing file/folder at that path gets
   * a newer version. ERR_CONFLICT when the name is a directory; ERR_NOT_FOUND when the
   * directory is missing (unless `createParents`).
   */
  async addContent(accountId: string, dirPath: string, kind: 'file' | 'folder', input: AddContentInput): Promise<Entry> {
    const segments = parsePath(dirPath)
    validateName(input.name)
    checkCid(input.cid)
    checkNonNegative('size', input.size)
    const mtime = input.mtime ?? now()
    checkNonNegative('mtime', mtime)
    return this.#write(async (trx) => {
      const dir = await this.#dirForWrite(trx, accountId, segments, input.createParents === true)
      const top = await trx
        .selectFrom('entries')
        .select(['kind', 'version'])
        .where('account_id', '=', accountId)
        .where('parent_id', '=', dir.id)
        .where('name', '=', input.name)
        .orderBy('version', 'desc')
        .limit(1)
        .executeTakeFirst()
      if (top?.kind === 'directory') throw conflict(`${formatPath([...segments, input.name])} is a directory`)
      const t = now()
      const row: Row = {
        id: newId(),
        account_id: accountId,
        parent_id: dir.id,
        name: input.name,
        kind,
        cid: input.cid,
        size: input.size,
        mtime,
        version: top === undefined ? 1 : Number(top.version) + 1,
        created_at: t,
        updated_at: t,
      }
      await trx.insertInto('entries').values(row).execute()
      await ensurePin(trx, input.cid, { size: input.size, ...input.pin })
      await addPinReference(trx, this.#ctx, input.cid, { kind: 'entry', id: row.id, accountId })
      return toEntry(row)
    })
  }

  /** Renames an entry in place. See {@link move}. */
  async rename(accountId: string, id: string, newName: string): Promise<Entry | undefined> {
    validateName(newName)
    const entry = await this.get(accountId, id)
    if (entry === undefined) return undefined
    if (entry.parentId === null) throw invalidPath('the /Library root cannot be renamed')
    return this.move(accountId, id, entry.parentId, { name: newName })
  }

  /**
   * Moves an entry into directory `newParentId`, optionally renaming it. A file or folder
   * moves with all its versions (the whole path). ERR_CONFLICT when the target name is
   * taken or a directory would move into its own subtree; undefined when either id is not
   * the account's.
   */
  async move(accountId: string, id: string, newParentId: string, opts: { name?: string } = {}): Promise<Entry | undefined> {
    if (opts.name !== undefined) validateName(opts.name)
    return this.#write(async (trx) => {
      const row = await this.#owned(trx, accountId, id)
      if (row === undefined) return undefined
      if (row.parent_id === null) throw invalidPath('the /Library root cannot be moved')
      const target = await this.#owned(trx, accountId, newParentId)
      if (target === undefined) return undefined
      if (target.kind !== 'directory') throw conflict('the target is not a directory')
      const name = opts.name ?? row.name
      if (target.id === row.parent_id && name === row.name) return toEntry(row)
      await this.#lock(trx, row.parent_id)
      await this.#lock(trx, target.id)
      if (row.kind === 'directory') {
        const targetPath = await this.#pathOf(trx, accountId, target.id)
        const selfPath = await this.#pathOf(trx, accountId, row.id)
        if (targetPath !== undefined && selfPath !== undefined && (targetPath === selfPath || targetPath.startsWith(`${selfPath}/`)))
          throw conflict('a directory cannot move into itself')
      }
      const taken = await this.#child(trx, accountId, target.id, name)
      if (taken !== undefined) throw conflict(`${name} already exists in the target directory`)
      const t = now()
      let q = trx
        .updateTable('entries')
        .set({ parent_id: target.id, name, updated_at: t })
        .where('account_id', '=', accountId)
      q = row.kind === 'directory' ? q.where('id', '=', row.id) : q.where('parent_id', '=', row.parent_id).where('name', '=', row.name)
      await q.execute()
      return toEntry({ ...row, parent_id: target.id, name, updated_at: t })
    })
  }

  /**
   * Removes an entry and releases the pins nothing references any more. For a file or
   * folder, removes every version at its path unless `onlyThisVersion`. A non-empty
   * directory needs `recursive` (else ERR_DIRECTORY_NOT_EMPTY). Undefined when the id is
   * not the account's; the root cannot be removed (ERR_INVALID_PATH).
   */
  async remove(
    accountId: string,
    id: string,
    opts: { recursive?: boolean; onlyThisVersion?: boolean } = {},
  ): Promise<RemoveResult | undefined> {
    return this.#write(async (trx) => {
      const row = await this.#owned(trx, accountId, id)
      if (row === undefined) return undefined
      if (row.parent_id === null) throw invalidPath('the /Library root cannot be removed')
      await this.#lock(trx, row.parent_id)
      let victims: Array<{ id: string; depth: number; cid: string | null }>
      if (row.kind === 'directory') {
        const r = await sql<{ id: string; depth: number; cid: string | null }>`
          with recursive sub(id, depth) as (
            select id, 0 from entries where id = ${row.id} and account_id = ${accountId}
            union all
            select e.id, sub.depth + 1 from entries e join sub on e.parent_id = sub.id
              where e.account_id = ${accountId}
          )
          select s.id, s.depth, e.cid from sub s join entries e on e.id = s.id`.execute(trx)
        victims = r.rows.map((v) => ({ id: v.id, depth: Number(v.depth), cid: v.cid }))
        if (victims.length > 1 && opts.recursive !== true)
          throw new PinfoldError('ERR_DIRECTORY_NOT_EMPTY', 'directory is not empty; remove it recursively', {
            userError: true,
          })
      } else if (opts.onlyThisVersion) {
        victims = [{ id: row.id, depth: 0, cid: row.cid }]
      } else {
        const rows = await trx
          .selectFrom('entries')
          .select(['id', 'cid'])
          .where('account_id', '=', accountId)
          .where('parent_id', '=', row.parent_id)
          .where('name', '=', row.name)
          .execute()
        victims = rows.map((v) => ({ id: v.id, depth: 0, cid: v.cid }))
      }
      for (const v of victims) {
        if (v.cid !== null) await removePinReference(trx, v.cid, { kind: 'entry', id: v.id })
      }
      victims.sort((a, b) => b.depth - a.depth)
      for (const chunk of chunks(victims)) {
        await trx
          .deleteFrom('entries')
          .where('account_id', '=', accountId)
          .where(
            'id',
            'in',
            chunk.map((v) => v.id),
          )
          .execute()
      }
      const cids = [...new Set(victims.map((v) => v.cid).filter((c): c is string => c !== null))].sort()
      const releasedCids: string[] = []
      for (const cid of cids) if (await releasePinIfUnreferenced(trx, this.#ctx, cid)) releasedCids.push(cid)
      return { removedEntries: victims.length, releasedCids }
    })
  }

  /** Bytes the account stores: sizes of its distinct CIDs (identical content counts once). */
  async storedBytes(accountId: string): Promise<number> {
    const r = await this.#ctx.db
      .selectFrom(
        this.#ctx.db
          .selectFrom('entries')
          .select((eb) => ['cid', eb.fn.max('size').as('size')])
          .where('account_id', '=', accountId)
          .where('cid', 'is not', null)
          .groupBy('cid')
          .as('d'),
      )
      .select((eb) => eb.fn.sum<number>('d.size').as('total'))
      .executeTakeFirst()
    return Number(r?.total ?? 0)
  }

  /** Runs `fn` in a transaction; unique violations surface as ERR_CONFLICT. */
  async #write<T>(fn: (trx: Executor) => Promise<T>): Promise<T> {
    try {
      return await this.#ctx.db.transaction().execute(fn)
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict('the name is already taken (concurrent change)', err)
      throw err
    }
  }
}
