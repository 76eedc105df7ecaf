import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Upload as TusUpload } from '@tus/server'
import type { Logger } from 'pino'
import type { Registry } from '../../registry/index.ts'
import { importTusUpload, isComplete, OWNER_KEY, openTusStore, tusUploadIds } from './tus-files.ts'
import type { UploadService } from './upload-service.ts'

export const INTERRUPTED_REASON = 'interrupted by restart'

interface UploadDirs {
  multipartDir: string
  tusDir: string
}

/**
 * Run at coordinator start, before listening, so that no upload a crash interrupted is left
 * in limbo:
 * - a tus upload whose bytes are all in (the crash hit between the last PATCH and the end of
 *   its import, or before its record existed) is imported again, in the background; it ends
 *   `done` or `error` with a reason, and its files are removed when it ends;
 * - a tus upload still `receiving` with bytes missing stays resumable (expiry deletes it if
 *   its client never comes back);
 * - every other unfinished upload (multipart bodies are gone with the process) is marked
 *   `error` (stage = where it stopped, reason "interrupted by restart") and its files removed.
 * Only orphaned uploads are touched (their owner is no live replica: this replica's lease is
 * recorded first), so restarting one replica fails none of another's. The multipart spool
 * (this replica's own) is emptied. Idempotent. Returns the number of uploads marked failed.
 */
export async function recoverUploads(registry: Registry, service: UploadService, logger: Logger): Promise<number> {
  await mkdir(service.tusDir, { recursive: true })
  const store = openTusStore(service.tusDir)
  const tusUploads = new Map<string, TusUpload>()
  for (const id of await tusUploadIds(service.tusDir)) {
    const upload = await store.getUpload(id).catch(() => undefined)
    // an info file without its data (or unreadable) can never be resumed or imported
    if (upload === undefined) await store.remove(id).catch(() => rm(`${service.tusDir}/${id}.json`, { force: true }))
    else tusUploads.set(id, upload)
  }
  let failed = 0
  const alive = await registry.replicas.alive()
  for (const upload of await registry.uploads.listUnfinished({ exceptOwners: alive })) {
    const tus = tusUploads.get(upload.id)
    if (tus !== undefined && (isComplete(tus) || upload.status === 'receiving')) continue
    await registry.uploads
      .setStatus(upload.accountId, upload.id, 'error', { stage: upload.status, reason: INTERRUPTED_REASON })
      .catch((error: unknown) => logger.warn({ err: error, upload: upload.id }, 'could not mark interrupted upload'))
    if (tus !== undefined) await store.remove(upload.id).catch(() => undefined)
    failed++
  }
  for (const tus of tusUploads.values()) {
    if (!isComplete(tus)) continue
    const owner = tus.metadata?.[OWNER_KEY]
    if (!owner) {
      await store.remove(tus.id).catch(() => undefined)
      continue
    }
    await importTusUpload(service, store, owner, tus, { background: true }).catch(async (error: unknown) => {
      // no record could be made (or it already ended): nothing will ever import these bytes
      logger.warn({ err: error, upload: tus.id }, 'could not resume the import of a received tus upload')
      await store.remove(tus.id).catch(() => undefined)
    })
  }
  await rm(service.multipartDir, { recursive: true, force: true })
  await mkdir(service.multipartDir, { recursive: true })
  if (failed > 0) logger.warn({ count: failed }, 'marked uploads interrupted by a restart as failed')
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
