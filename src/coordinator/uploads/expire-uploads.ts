import type { Logger } from 'pino'
import { isComplete, lastWriteAt, OWNER_KEY, openTusStore, tusUploadIds } from './tus-files.ts'
import type { UploadService } from './upload-service.ts'

/** The periodic sweep started by {@link startUploadExpiry}. */
export interface UploadExpiry {
  /** Runs one sweep now; resolves with the number of uploads deleted. Sweeps never overlap. */
  sweep(): Promise<number>
  /** Stops the timer and waits for a running sweep. Idempotent. */
  close(): Promise<void>
}

/**
 * Deletes abandoned tus uploads: one still missing bytes whose last byte arrived more than
 * `expiryMs` ago loses its files, then its upload record (so it stops counting toward the
 * account's open uploads and quota). A later PATCH or HEAD for it gets 404. Complete uploads
 * are never expired (they are being imported). Sweeps every `expiryMs / 4`, at most every
 * 10 minutes, at least every second.
 */
export function startUploadExpiry(service: UploadService, logger: Logger, options: { expiryMs: number }): UploadExpiry {
  const store = openTusStore(service.tusDir)
  let running: Promise<number> | undefined
  const sweepOnce = async (): Promise<number> => {
    let deleted = 0
    const now = Date.now()
    for (const id of await tusUploadIds(service.tusDir)) {
      const upload = await store.getUpload(id).catch(() => undefined)
      if (upload === undefined || isComplete(upload)) continue
      const last = (await lastWriteAt(service.tusDir, id)) ?? (Date.parse(upload.creation_date ?? '') || 0)
      if (now - last <= options.expiryMs) continue
      await store.remove(id)
      const owner = upload.metadata?.[OWNER_KEY]
      if (owner) await service.abandon(owner, id)
      deleted++
    }
    if (deleted > 0) logger.info({ count: deleted }, 'deleted abandoned tus uploads')
    return deleted
  }
  const sweep = () => {
    running ??= sweepOnce().finally(() => {
      running = undefined
    })
    return running
  }
  const intervalMs = Math.min(600_000, Math.max(1000, options.expiryMs / 4))
  const timer = setInterval(() => {
    sweep().catch((error: unknown) => logger.warn({ err: error }, 'tus upload expiry sweep failed'))
  }, intervalMs).unref()
  return {
    sweep,
    async close() {
      clearInterval(timer)
      await running?.catch(() => undefined)
    },
  }
}
