import type { NodeMessage } from '../../cluster/index.ts'
import { PinfoldError } from '../../core/index.ts'
import { formatPath, type Entry, type PinOptions, type Registry, validateName } from '../../registry/index.ts'

/** Registry directory (under `/Library`) that drop-folder files land in. */
export const INGEST_DIR = 'incoming'

export type IngestedMessage = Extract<NodeMessage, { type: 'ingested' }>

export interface IngestOptions {
  /** The account the admin assigned to the ingesting node (never one the node names). */
  accountId: string
  /** The file's size as the coordinator measured it from the verified DAG (not the node's claim). */
  size: number
  /** Replication of a pin new to the registry (`cluster.defaultReplicationMin/Max`). */
  pin: PinOptions
}

export interface IngestOutcome {
  accountId: string
  /** `/Library/incoming/<relative path>`. */
  path: string
  entry: Entry
  /** False when the same file (path, cid, mtime) was already registered (a resend). */
  added: boolean
}

/** Where a drop-folder file goes: `/Library/incoming/<path>`; ERR_INVALID_PATH for invalid segments. */
export function ingestPath(message: Pick<IngestedMessage, 'path'>): { dirSegments: string[]; name: string; path: string } {
  const segments = message.path.split('/').filter((s) => s !== '')
  for (const segment of segments) validateName(segment)
  const name = segments.at(-1)
  if (name === undefined) throw new PinfoldError('ERR_INVALID_PATH', 'empty ingest path', { userError: true })
  const dirSegments = [INGEST_DIR, ...segments.slice(0, -1)]
  return { dirSegments, name, path: formatPath([...dirSegments, name]) }
}

/**
 * Registers a drop-folder file a node imported: an entry at `/Library/incoming/<path>` of
 * the node's assigned account, with the file's mtime and measured size, pinned with the
 * default replication. Idempotent: when a version at that path already has the same cid
 * and mtime, nothing is added. ERR_INVALID_PATH for a path with invalid segments;
 * ERR_NOT_FOUND for an unknown or disabled account.
 */
export async function registerIngested(registry: Registry, message: IngestedMessage, options: IngestOptions): Promise<IngestOutcome> {
  const account = await registry.accounts.get(options.accountId)
  if (!account || account.disabled) throw new PinfoldError('ERR_NOT_FOUND', 'the ingest account is gone or disabled', { userError: true })
  const { dirSegments, name, path } = ingestPath(message)
  const mtime = Math.floor(message.mtime)
  const dir = await registry.entries.getByPath(account.id, formatPath(dirSegments)).catch(() => undefined)
  if (dir?.kind === 'directory') {
    const same = (await registry.entries.versions(account.id, dir.id, name)).find((v) => v.cid === message.cid && v.mtime === mtime)
    if (same) return { accountId: account.id, path, entry: same, added: false }
  }
  const entry = await registry.entries.addFile(account.id, formatPath(dirSegments), {
    name,
    cid: message.cid,
    size: options.size,
    mtime,
    createParents: true,
    pin: options.pin,
  })
  return { accountId: account.id, path, entry, added: true }
}
