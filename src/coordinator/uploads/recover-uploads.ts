import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { Registry } from '../../registry/index.ts'

export const INTERRUPTED_REASON = 'interrupted by restart'

interface UploadDirs {
  multipartDir: string
  tusDir: string
}

/**
 * Run at coordinator start, before listening, after this replica's lease is recorded: the
 * orphaned uploads are failed (see failOrphanedUploads), the multipart spool is emptied (it is
 * this replica's own), and the tus directory created. Uploads other live replicas are
 * receiving are left alone, so restarting one replica fails none of another's. Idempotent.
 */
export async function recoverUploads(registry: Registry, dirs: UploadDirs, logger: Logger): Promise<number> {
  const failed = await failOrphanedUploads(registry, dirs, logger)
  await rm(dirs.multipartDir, { recursive: true, force: true })
  await mkdir(dirs.multipartDir, { recursive: true })
  await mkdir(dirs.tusDir, { recursive: true })
  return failed
}

/**
 * Marks `error` (stage = where it stopped, reason "interrupted by restart") every unfinished
 * upload whose owner is no live replica (its lease expired, or it has none), and removes its
 * tus files where they are local. Unfinished tus uploads that never completed have no upload
 * record yet and are kept, so clients can still resume them. Idempotent; safe on several
 * replicas at once (a terminal upload is never changed again).
 */
export async function failOrphanedUploads(registry: Registry, dirs: UploadDirs, logger: Logger): Promise<number> {
  const alive = await registry.replicas.alive()
  const orphans = await registry.uploads.listUnfinished({ exceptOwners: alive })
  for (const upload of orphans) {
    await registry.uploads
      .setStatus(upload.accountId, upload.id, 'error', { stage: upload.status, reason: INTERRUPTED_REASON })
      .catch((error: unknown) => logger.warn({ err: error, upload: upload.id }, 'could not mark interrupted upload'))
    // a finished tus upload being imported: its bytes are named by the upload id
    await rm(join(dirs.tusDir, upload.id), { force: true })
    await rm(join(dirs.tusDir, `${upload.id}.json`), { force: true })
  }
  if (orphans.length > 0) logger.warn({ count: orphans.length }, 'marked uploads interrupted by a restart as failed')
  return orphans.length
}
