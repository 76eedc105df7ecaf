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

/**
 * What a deletion did, from the account's own point of view only: whether another account
 * stores the same CID is never revealed (that would be a dedup oracle, issue 9 item 1).
 */
export interface DeleteEntryResult {
  removedEntries: number
  /** CIDs of the removed entries the account no longer holds at all: no longer counted, and collected unless kept for someone else. */
  releasedCids: string[]
  /** CIDs of the removed entries the account still holds through its other entries or pinned requests. */
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
  const answer: DeleteEntryResult = { removedEntries: result.removedEntries, releasedCids: [], stillReferenced: [] }
  for (const cid of [...referenced].sort()) {
    const held = (await registry.pins.getForAccount(accountId, cid)) !== undefined
    ;(held ? answer.stillReferenced : answer.releasedCids).push(cid)
  }
  return answer
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
