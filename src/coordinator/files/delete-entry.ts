import { PinfoldError } from '../../core/index.ts'
import type { Entry, Registry } from '../../registry/index.ts'
import type { ContentReleaser } from './release-content.ts'

export interface DeleteEntryOptions {
  /** Required (with `confirm`) for a directory that is not empty. */
  recursive: boolean
  /** The directory's own name, typed by the user: a second, deliberate step for a tree. */
  confirm?: string
  /** For a file or folder: remove only this version, not every version at its path. */
  onlyThisVersion: boolean
}

/** What a deletion did, stated honestly: content is gone only when nothing else holds it. */
export interface DeleteEntryResult {
  removedEntries: number
  /** CIDs no entry or pin request of any account references any more: unpinned, GC reclaims them. */
  releasedCids: string[]
  /** CIDs of the removed entries that stay pinned because something else still references them. */
  stillReferenced: string[]
}

/**
 * Deletes an entry of `accountId` (already looked up, so known to be theirs): a file or
 * folder with all its versions (or one), a directory with its whole tree after
 * confirmation. Released CIDs go to the releaser, which unpins them and schedules GC.
 * Undefined when the entry vanished concurrently.
 */
export async function deleteEntry(
  registry: Registry,
  releaser: ContentReleaser,
  accountId: string,
  entry: Entry,
  options: DeleteEntryOptions,
): Promise<DeleteEntryResult | undefined> {
  const confirmed = options.recursive && options.confirm === entry.name
  if (entry.kind === 'directory' && !confirmed && (await hasChildren(registry, accountId, entry))) {
    throw new PinfoldError(
      'ERR_CONFIRMATION_REQUIRED',
      `${entry.name} is not empty: repeat with recursive=true&confirm=${encodeURIComponent(entry.name)} to delete it and everything in it`,
      { userError: true },
    )
  }
  // collected before removal: afterwards the registry no longer knows which CIDs were ours
  const referenced = await referencedCids(registry, accountId, entry, options.onlyThisVersion)
  const result = await registry.entries.remove(accountId, entry.id, {
    recursive: entry.kind === 'directory' && confirmed,
    onlyThisVersion: options.onlyThisVersion,
  })
  if (result === undefined) return undefined
  await releaser.release(result.releasedCids)
  const released = new Set(result.releasedCids)
  return {
    removedEntries: result.removedEntries,
    releasedCids: result.releasedCids,
    stillReferenced: [...referenced].filter((cid) => !released.has(cid)).sort(),
  }
}

async function hasChildren(registry: Registry, accountId: string, directory: Entry): Promise<boolean> {
  const page = await registry.entries.list(accountId, directory.id, { limit: 1, versions: 'all' })
  return (page?.items.length ?? 0) > 0
}

/** The distinct CIDs the removal will drop references to (every version, the whole tree). */
async function referencedCids(registry: Registry, accountId: string, entry: Entry, onlyThisVersion: boolean): Promise<Set<string>> {
  const cids = new Set<string>()
  if (entry.kind !== 'directory') {
    const versions = onlyThisVersion || entry.parentId === null ? [entry] : await registry.entries.versions(accountId, entry.parentId, entry.name)
    for (const version of versions) if (version.cid !== null) cids.add(version.cid)
    return cids
  }
  const pending = [entry.id]
  while (pending.length > 0) {
    const dirId = pending.pop() as string
    let cursor: string | undefined
    do {
      const page = await registry.entries.list(accountId, dirId, { limit: 1000, cursor, versions: 'all' })
      for (const child of page?.items ?? []) {
        if (child.kind === 'directory') pending.push(child.id)
        else if (child.cid !== null) cids.add(child.cid)
      }
      cursor = page?.cursor
    } while (cursor !== undefined)
  }
  return cids
}
