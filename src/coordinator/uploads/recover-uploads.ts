import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { Registry } from '../../registry/index.ts'

export const INTERRUPTED_REASON = 'interrupted by restart'

/**
 * Run at coordinator start, before listening: every upload a crash left unfinished is marked
 * `error` (stage = where it stopped, reason "interrupted by restart"), the multipart spool is
 * emptied, and the tus files of those uploads are removed. Unfinished tus uploads that never
 * completed have no upload record yet and are kept, so clients can still resume them.
 * Idempotent. Assumes one coordinator per registry (replicas would need an owner column).
 */
export async function recoverUploads(
  registry: Registry,
  dirs: { multipartDir: string; tusDir: string },
  logger: Logger,
): Promise<number> {
  const unfinished = await registry.uploads.listUnfinished()
  for (const upload of unfinished) {
    await registry.uploads
      .setStatus(upload.accountId, upload.id, 'error', { stage: upload.status, reason: INTERRUPTED_REASON })
      .catch((error: unknown) => logger.warn({ err: error, upload: upload.id }, 'could not mark interrupted upload'))
    // a finished tus upload being imported: its bytes are named by the upload id
    await rm(join(dirs.tusDir, upload.id), { force: true })
    await rm(join(dirs.tusDir, `${upload.id}.json`), { force: true })
  }
  await rm(dirs.multipartDir, { recursive: true, force: true })
  await mkdir(dirs.multipartDir, { recursive: true })
  await mkdir(dirs.tusDir, { recursive: true })
  if (unfinished.length > 0) logger.warn({ count: unfinished.length }, 'marked uploads interrupted by a restart as failed')
  return unfinished.length
}
