import Type, { type Static } from 'typebox'
import type { Entry } from '../../registry/index.ts'
import { isoTime, Timestamp } from '../http/schemas.ts'

/** The JSON shape of an entry in every files-API response (and in the OpenAPI document). */
export const EntryViewSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  kind: Type.Enum(['directory', 'folder', 'file']),
  /** Absolute path, `/Library/…`. */
  path: Type.String({ description: 'absolute path, /Library/…' }),
  parentId: Type.Union([Type.String(), Type.Null()], { description: 'null for the /Library root' }),
  cid: Type.Union([Type.String(), Type.Null()], { description: 'null for directories (editable containers)' }),
  size: Type.Integer({ minimum: 0, description: 'bytes; 0 for directories' }),
  mtime: Timestamp,
  version: Type.Integer({ minimum: 1, description: 'insertion order among the versions at this path' }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
})

export type EntryView = Static<typeof EntryViewSchema>

/** `entry` as clients see it; `path` is passed in because callers usually know it already. */
export function presentEntry(entry: Entry, path: string): EntryView {
  return {
    id: entry.id,
    name: entry.name,
    kind: entry.kind,
    path,
    parentId: entry.parentId,
    cid: entry.cid,
    size: entry.size,
    mtime: isoTime(entry.mtime) ?? '',
    version: entry.version,
    createdAt: isoTime(entry.createdAt) ?? '',
    updatedAt: isoTime(entry.updatedAt) ?? '',
  }
}

/** The path of a child named `name` inside the directory at `dirPath`. */
export function childPath(dirPath: string, name: string): string {
  return `${dirPath}/${name}`
}
