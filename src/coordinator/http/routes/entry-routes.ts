import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import { PinfoldError } from '../../../core/index.ts'
import { type Entry, formatPath, type ListSort, parsePath, type Registry } from '../../../registry/index.ts'
import type { CoordinatorComponents } from '../../components.ts'
import { deleteEntry } from '../../files/delete-entry.ts'
import { accountScope, AccountIdQuery, entryById, entryByPath, notFound, PathQuery, pathOfEntry } from '../../files/entry-lookup.ts'
import { childPath, EntryViewSchema, presentEntry } from '../../files/entry-view.ts'
import { searchEntries } from '../../files/search-entries.ts'
import { ErrorResponse, Id, IdParams } from '../schemas.ts'

const Errors = { 400: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse }
const Cursor = Type.String({ minLength: 1, maxLength: 2048, description: 'opaque, from the previous page' })
const Limit = Type.Integer({ minimum: 1, maximum: 1000, default: 100 })

const ListQueryProps = {
  limit: Type.Optional(Limit),
  cursor: Type.Optional(Cursor),
  sort: Type.Optional(Type.Enum(['name', 'mtime', 'size', 'created'], { default: 'name' })),
  order: Type.Optional(Type.Enum(['asc', 'desc'], { default: 'asc' })),
  accountId: AccountIdQuery,
}
const ListQuery = Type.Object(ListQueryProps, { additionalProperties: false })
const ListByPathQuery = Type.Object({ ...ListQueryProps, path: PathQuery }, { additionalProperties: false })
const ListResponse = Type.Object({
  directory: EntryViewSchema,
  items: Type.Array(EntryViewSchema, { description: 'the newest version of each name' }),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'null on the last page' }),
})

const AccountOnlyQuery = Type.Object({ accountId: AccountIdQuery }, { additionalProperties: false })
const StatQuery = Type.Object({ path: PathQuery, accountId: AccountIdQuery }, { additionalProperties: false })

const SearchQuery = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'case-insensitive substring of the name' })),
    pathPrefix: Type.Optional(Type.String({ minLength: 1, maxLength: 8192, description: 'a directory path: search its subtree' })),
    cid: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'exact CID (v0 and v1 spellings match)' })),
    kind: Type.Optional(Type.Enum(['directory', 'folder', 'file'])),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Cursor),
    accountId: AccountIdQuery,
  },
  { additionalProperties: false },
)

const MkdirBody = Type.Object(
  {
    path: Type.String({ minLength: 1, maxLength: 8192, description: 'absolute path of the new directory' }),
    parents: Type.Optional(Type.Boolean({ default: false, description: 'create missing parents; an existing directory is returned unchanged' })),
  },
  { additionalProperties: false },
)
const MkdirQuery = AccountOnlyQuery

const PatchBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'new name' })),
    parentId: Type.Optional(Id),
    parentPath: Type.Optional(Type.String({ minLength: 1, maxLength: 8192, description: 'path of the target directory' })),
  },
  { additionalProperties: false, minProperties: 1 },
)

const DeleteQuery = Type.Object(
  {
    recursive: Type.Optional(Type.Boolean({ default: false, description: 'delete a non-empty directory with everything in it' })),
    confirm: Type.Optional(Type.String({ maxLength: 1024, description: 'the directory’s name, required with recursive' })),
    onlyThisVersion: Type.Optional(Type.Boolean({ default: false, description: 'file/folder: remove only this version' })),
    accountId: AccountIdQuery,
  },
  { additionalProperties: false },
)
const DeleteResponse = Type.Object({
  removedEntries: Type.Integer(),
  releasedCids: Type.Array(Type.String(), { description: 'CIDs of removed entries this account no longer holds (no longer counted)' }),
  stillReferenced: Type.Array(Type.String(), { description: 'CIDs of removed entries this account still holds through other entries or pins' }),
})

interface ListQueryValue {
  limit?: number
  cursor?: string
  sort?: ListSort
  order?: 'asc' | 'desc'
  accountId?: string
}

/**
 * The files API's metadata side: stat (by id or path), paged directory listings, versions,
 * search, mkdir, rename/move and delete. Everything is scoped to the caller's account, so
 * another account's ids and paths are simply not found.
 */
export function entryRoutes(app: FastifyInstance, components: CoordinatorComponents): void {
  const { registry, authenticate, releaseContent } = components

  app.get(
    '/api/v1/entries',
    { schema: { tags: ['files'], summary: 'Stat an entry by path (the newest version by mtime)', querystring: StatQuery, response: { 200: EntryViewSchema, ...Errors } } },
    async (request) => {
      const query = request.query as { path: string; accountId?: string }
      const accountId = accountScope(await authenticate(request, 'read'), query.accountId)
      const entry = await entryByPath(registry, accountId, query.path)
      // found by this very path, so it needs no second lookup (the hottest route)
      return presentEntry(entry, formatPath(parsePath(query.path)))
    },
  )

  app.get(
    '/api/v1/entries/:id',
    { schema: { tags: ['files'], summary: 'Stat an entry by id', params: IdParams, querystring: AccountOnlyQuery, response: { 200: EntryViewSchema, ...Errors } } },
    async (request) => {
      const { id } = request.params as { id: string }
      const accountId = accountScope(await authenticate(request, 'read'), (request.query as { accountId?: string }).accountId)
      const entry = await entryById(registry, accountId, id)
      return presentEntry(entry, await pathOfEntry(registry, accountId, entry))
    },
  )

  // A static segment wins over `:id` in the router, and ids are UUIDs, so no id is shadowed.
  app.get(
    '/api/v1/entries/children',
    { schema: { tags: ['files'], summary: 'List a directory by path (paged)', querystring: ListByPathQuery, response: { 200: ListResponse, ...Errors } } },
    async (request) => {
      const query = request.query as ListQueryValue & { path: string }
      const accountId = accountScope(await authenticate(request, 'read'), query.accountId)
      return listDirectory(registry, accountId, await entryByPath(registry, accountId, query.path), query)
    },
  )

  app.get(
    '/api/v1/entries/:id/children',
    { schema: { tags: ['files'], summary: 'List a directory (paged)', params: IdParams, querystring: ListQuery, response: { 200: ListResponse, ...Errors } } },
    async (request) => {
      const { id } = request.params as { id: string }
      const query = request.query as ListQueryValue
      const accountId = accountScope(await authenticate(request, 'read'), query.accountId)
      return listDirectory(registry, accountId, await entryById(registry, accountId, id), query)
    },
  )

  app.get(
    '/api/v1/entries/:id/versions',
    {
      schema: {
        tags: ['files'],
        summary: 'Every version at the entry’s path, newest first',
        params: IdParams,
        querystring: AccountOnlyQuery,
        response: { 200: Type.Object({ versions: Type.Array(EntryViewSchema) }), ...Errors },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string }
      const accountId = accountScope(await authenticate(request, 'read'), (request.query as { accountId?: string }).accountId)
      const entry = await entryById(registry, accountId, id)
      const path = await pathOfEntry(registry, accountId, entry)
      // a directory has exactly one "version": itself
      const versions = entry.kind === 'directory' || entry.parentId === null ? [entry] : await registry.entries.versions(accountId, entry.parentId, entry.name)
      return { versions: versions.map((version) => presentEntry(version, path)) }
    },
  )

  app.get(
    '/api/v1/search',
    {
      schema: {
        tags: ['files'],
        summary: 'Search entries by name, path prefix or CID (every version matches)',
        querystring: SearchQuery,
        response: {
          200: Type.Object({ items: Type.Array(EntryViewSchema), nextCursor: Type.Union([Type.String(), Type.Null()]), truncated: Type.Boolean() }),
          ...Errors,
        },
      },
    },
    async (request) => {
      const query = request.query as { name?: string; pathPrefix?: string; cid?: string; kind?: Entry['kind']; limit?: number; cursor?: string; accountId?: string }
      const accountId = accountScope(await authenticate(request, 'read'), query.accountId)
      const page = await searchEntries(registry, accountId, { ...query, limit: query.limit ?? 100 })
      return { items: page.items.map((hit) => presentEntry(hit, hit.path)), nextCursor: page.nextCursor, truncated: page.truncated }
    },
  )

  app.post(
    '/api/v1/directories',
    { schema: { tags: ['files'], summary: 'Create a directory', body: MkdirBody, querystring: MkdirQuery, response: { 201: EntryViewSchema, 409: ErrorResponse, ...Errors } } },
    async (request, reply) => {
      const body = request.body as { path: string; parents?: boolean }
      const accountId = accountScope(await authenticate(request, 'write'), (request.query as { accountId?: string }).accountId)
      const entry = await registry.entries.mkdir(accountId, body.path, { recursive: body.parents === true })
      return reply.code(201).send(presentEntry(entry, await pathOfEntry(registry, accountId, entry)))
    },
  )

  app.patch(
    '/api/v1/entries/:id',
    {
      schema: {
        tags: ['files'],
        summary: 'Rename and/or move an entry (a file or folder moves with all its versions)',
        params: IdParams,
        querystring: AccountOnlyQuery,
        body: PatchBody,
        response: { 200: EntryViewSchema, 409: ErrorResponse, ...Errors },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string }
      const body = request.body as { name?: string; parentId?: string; parentPath?: string }
      const accountId = accountScope(await authenticate(request, 'write'), (request.query as { accountId?: string }).accountId)
      const entry = await renameOrMove(registry, accountId, id, body)
      return presentEntry(entry, await pathOfEntry(registry, accountId, entry))
    },
  )

  app.delete(
    '/api/v1/entries/:id',
    {
      schema: {
        tags: ['files'],
        summary: 'Delete an entry; a non-empty directory needs recursive=true&confirm=<its name>',
        params: IdParams,
        querystring: DeleteQuery,
        response: { 200: DeleteResponse, ...Errors },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string }
      const query = request.query as { recursive?: boolean; confirm?: string; onlyThisVersion?: boolean; accountId?: string }
      const accountId = accountScope(await authenticate(request, 'write'), query.accountId)
      const entry = await entryById(registry, accountId, id)
      const result = await deleteEntry(registry, releaseContent, accountId, entry, {
        recursive: query.recursive === true,
        confirm: query.confirm,
        onlyThisVersion: query.onlyThisVersion === true,
      })
      if (result === undefined) throw notFound(`entry ${id}`)
      return result
    },
  )
}

/** One page of `directory`'s children (the newest version of each name). */
async function listDirectory(registry: Registry, accountId: string, directory: Entry, query: ListQueryValue) {
  if (directory.kind !== 'directory') {
    throw new PinfoldError('ERR_NOT_A_DIRECTORY', `${directory.name} is a ${directory.kind}, not a directory`, { userError: true })
  }
  const page = await registry.entries.list(accountId, directory.id, { limit: query.limit, cursor: query.cursor, sort: query.sort, order: query.order })
  if (page === undefined) throw notFound(`directory ${directory.id}`)
  const dirPath = await pathOfEntry(registry, accountId, directory)
  return {
    directory: presentEntry(directory, dirPath),
    items: page.items.map((child) => presentEntry(child, childPath(dirPath, child.name))),
    nextCursor: page.cursor ?? null,
  }
}

/** PATCH semantics: `name` renames, `parentId` or `parentPath` moves, both do both. */
async function renameOrMove(registry: Registry, accountId: string, id: string, body: { name?: string; parentId?: string; parentPath?: string }): Promise<Entry> {
  if (body.parentId !== undefined && body.parentPath !== undefined) {
    throw new PinfoldError('ERR_VALIDATION', 'give parentId or parentPath, not both', { userError: true })
  }
  const entry = await entryById(registry, accountId, id)
  let parentId = body.parentId
  if (body.parentPath !== undefined) parentId = (await entryByPath(registry, accountId, body.parentPath)).id
  let moved: Entry | undefined
  if (parentId !== undefined) moved = await registry.entries.move(accountId, entry.id, parentId, { name: body.name })
  else if (body.name !== undefined) moved = await registry.entries.rename(accountId, entry.id, body.name)
  else moved = entry
  if (moved === undefined) throw notFound(parentId === undefined ? `entry ${id}` : `entry ${id} or directory ${parentId}`)
  return moved
}
