import { join } from 'node:path'
import type { Logger } from 'pino'
import { PinfoldError } from '../../core/index.ts'
import type { PinOptions, Registry, Upload, UploadStatus } from '../../registry/index.ts'
import type { Repo } from '../../repo/index.ts'
import type { EventHub } from '../events/event-hub.ts'
import type { CoordinatorMetrics } from '../metrics/coordinator-metrics.ts'
import { importUpload, type StreamingImport, type StreamingImportOptions, startImport } from './import-upload.ts'
import { registerUpload } from './register-upload.ts'
import { checkIncoming, TooManyUploadsError, type UploadLimits, uploadLimitsFor } from './upload-limits.ts'
import type { UploadedEntry, UploadRequest } from './upload-request.ts'

/** An upload record and, once done, the entries it created. */
export interface UploadOutcome {
  upload: Upload
  entries: UploadedEntry[]
}

/**
 * The upload pipeline: `receiving → importing → saving → done | error`, shared by multipart
 * and tus uploads. Receivers (the HTTP edge) call `begin`, then `complete` once the body is
 * all in; this service imports into the origin repo and registers entries.
 *
 * Stages. `receiving`: the body is arriving. A multipart upload imports each file part into
 * the origin repo as it arrives (`openImport`: no copy on disk; blocks written, nothing
 * pinned), so receiving and most of the importing overlap; a tus upload's bytes go to its
 * file store. `importing`: the body is complete and every path in it valid; the import is
 * finished (multipart: the last blocks and directory nodes written and flushed; tus: the whole
 * file imported) and its roots pinned. `saving`: registry entries are added. `done`.
 *
 * Ordering: an upload is `done` only after its blocks and pins are durable in the repo AND
 * its entries are committed in the registry, so an answered `done` survives a crash. A
 * failure at any stage marks the upload `error` with that `stage` and a `reason`, and its
 * files on disk are removed; nothing is pinned or registered by a failure before `importing`
 * ends (blocks already written stay unpinned until GC collects them). From its first file part
 * to its pin, a multipart upload holds the repo's add lock (shared): GC waits for it.
 *
 * Idempotency: statuses never regress (`done`/`error` are terminal in the registry);
 * `recover` is idempotent. Uploading the same bytes again stores them once (content
 * addressing) and adds a new entry version.
 *
 * Concurrency: any number of uploads may run at once (imports share the repo's add lock);
 * quotas are read per upload and re-checked before import, so concurrent uploads of one
 * account can overshoot its storage quota by at most what they bring in together.
 */
export interface UploadService {
  /** Scratch space for multipart bodies that are spooled (Kubo RPC `add`; `<dataDir>/uploads/multipart`), emptied at start. */
  readonly multipartDir: string
  /** The tus store's directory (`<dataDir>/uploads/tus`); survives restarts, for resuming. */
  readonly tusDir: string
  /** The account's current upload limits (size, and storage quota left after other open uploads' reservations). */
  limits(accountId: string, exceptUploadId?: string): Promise<UploadLimits>
  /**
   * Creates the upload record (status `receiving`). ERR_CONFLICT when the target path names
   * an existing file or folder; ERR_TOO_MANY_UPLOADS when the account already has
   * `maxOpenUploads` open. `id` lets the caller choose it (tus uses its upload id); `bytes`
   * (a declared length) is reserved against the quota until the upload ends.
   */
  begin(accountId: string, input: { targetPath: string; name?: string; id?: string; bytes?: number }): Promise<Upload>
  /** Deletes the record of an upload still `receiving` (terminated or expired); its files are the caller's. */
  abandon(accountId: string, uploadId: string): Promise<void>
  /**
   * Starts importing an upload's files into the origin repo as they arrive (see
   * `StreamingImport`); the receiver hands it to `complete` as `request.import`, or aborts it.
   */
  openImport(options: StreamingImportOptions): StreamingImport
  /**
   * Moves a fully received upload to `importing`, then finishes its import (or imports its
   * files from disk), pins and registers it. With
   * `background`, resolves as soon as the upload is `importing` (the rest runs on and is
   * awaited by `close`); otherwise resolves when it is `done` and rejects (after recording
   * `error`) on failure. Always calls `request.discard()` once finished.
   */
  complete(accountId: string, uploadId: string, request: UploadRequest, options?: { background?: boolean }): Promise<UploadOutcome>
  /** Records a failure during receiving (or any stage) and discards the upload's files. */
  fail(accountId: string, uploadId: string, stage: UploadStatus, error: unknown, discard?: () => Promise<void>): Promise<void>
  get(accountId: string, id: string): Promise<Upload>
  list(accountId: string, options?: { limit?: number }): Promise<Upload[]>
  /** Waits for background imports to settle. Idempotent. */
  close(): Promise<void>
}

export interface UploadServiceComponents {
  registry: Registry
  repo: Repo
  metrics: CoordinatorMetrics
  logger: Logger
  /** The coordinator's `limits.maxUploadBytes` (0 = unlimited). */
  maxUploadBytes: number
  /** `limits.maxOpenUploadsPerAccount` (0 or absent = unlimited). */
  maxOpenUploads?: number
  /** `<dataDir>/uploads`. */
  uploadsDir: string
  /** Options of pins new to the registry (`cluster.defaultReplicationMin/Max`); registry defaults when absent. */
  pin?: PinOptions
  /** Where every status change is published (`{type: 'upload'}` to the upload's account). */
  events?: EventHub
}

export class UploadNotFoundError extends PinfoldError {
  constructor(id: string) {
    super('ERR_UPLOAD_NOT_FOUND', `no upload ${id}`, { userError: true })
  }
}

export function createUploadService(components: UploadServiceComponents): UploadService {
  return new PipelineUploadService(components)
}

class PipelineUploadService implements UploadService {
  readonly multipartDir: string
  readonly tusDir: string
  readonly #c: UploadServiceComponents
  readonly #log: Logger
  readonly #running = new Set<Promise<unknown>>()

  constructor(components: UploadServiceComponents) {
    this.#c = components
    this.#log = components.logger.child({ component: 'coordinator:uploads' })
    this.multipartDir = join(components.uploadsDir, 'multipart')
    this.tusDir = join(components.uploadsDir, 'tus')
  }

  limits(accountId: string, exceptUploadId?: string): Promise<UploadLimits> {
    return uploadLimitsFor(this.#c.registry, this.#c.maxUploadBytes, accountId, exceptUploadId)
  }

  async begin(accountId: string, input: { targetPath: string; name?: string; id?: string; bytes?: number }): Promise<Upload> {
    const existing = await this.#c.registry.entries.resolve(accountId, input.targetPath)
    if (existing && existing.remainder.length === 0 && existing.entry.kind !== 'directory') {
      throw new PinfoldError('ERR_CONFLICT', `${input.targetPath} is a ${existing.entry.kind}, not a directory`, { userError: true })
    }
    const max = this.#c.maxOpenUploads ?? 0
    // checked, then created: concurrent begins of one account may overshoot by their number
    if (max > 0 && (await this.#c.registry.uploads.open(accountId)).count >= max) throw new TooManyUploadsError(max)
    const upload = await this.#c.registry.uploads.create(accountId, input)
    this.#publish(accountId, upload)
    return upload
  }

  async abandon(accountId: string, uploadId: string): Promise<void> {
    await this.#c.registry.uploads.removeOpen(accountId, uploadId)
  }

  openImport(options: StreamingImportOptions): StreamingImport {
    return startImport(this.#c.repo, options)
  }

  async complete(accountId: string, uploadId: string, request: UploadRequest, options: { background?: boolean } = {}): Promise<UploadOutcome> {
    const bytes = request.files.reduce((sum, file) => sum + file.bytes, 0)
    this.#c.metrics.bytesIn.inc(bytes)
    let importing: Upload
    try {
      // quotas may have been used up by concurrent uploads while this one was arriving
      checkIncoming(await this.limits(accountId, uploadId), bytes)
      importing = await this.#setStatus(accountId, uploadId, 'importing', { bytes })
    } catch (error) {
      await this.fail(accountId, uploadId, 'receiving', error, () => request.discard())
      throw error
    }
    const finishing = this.#finish(accountId, importing, request)
    if (!options.background) return finishing
    this.#track(finishing.catch(() => undefined))
    return { upload: importing, entries: [] }
  }

  async #finish(accountId: string, upload: Upload, request: UploadRequest): Promise<UploadOutcome> {
    let stage: UploadStatus = 'importing'
    try {
      const imported = await importUpload(this.#c.repo, request)
      const cid = imported.folder?.cid.toString() ?? (imported.fileCids.length === 1 ? imported.fileCids[0]?.toString() : undefined)
      stage = 'saving'
      await this.#setStatus(accountId, upload.id, 'saving', { cid: cid ?? null })
      const entries = await registerUpload(this.#c.registry, accountId, request, imported, this.#c.pin)
      const done = await this.#setStatus(accountId, upload.id, 'done', { stage: null })
      await this.#c.registry.usage.record(accountId, 'upload_bytes', upload.bytes)
      this.#c.metrics.uploads.inc({ status: 'done' })
      await request.discard().catch((error: unknown) => this.#log.warn({ err: error, upload: upload.id }, 'could not remove upload files'))
      return { upload: done, entries }
    } catch (error) {
      await this.fail(accountId, upload.id, stage, error, () => request.discard())
      throw error
    }
  }

  async fail(accountId: string, uploadId: string, stage: UploadStatus, error: unknown, discard?: () => Promise<void>): Promise<void> {
    const userError = error instanceof PinfoldError && error.userError
    if (!userError) this.#log.error({ err: error, upload: uploadId, stage }, 'upload failed')
    const reason = error instanceof Error ? error.message : String(error)
    // files first: once a client sees `error`, nothing of the upload is left on disk
    await discard?.().catch((cause: unknown) => this.#log.warn({ err: cause, upload: uploadId }, 'could not remove upload files'))
    await this.#c.registry.uploads
      .setStatus(accountId, uploadId, 'error', { stage, reason })
      .then((upload) => {
        if (upload !== undefined) this.#publish(accountId, upload)
      })
      .catch((cause: unknown) => this.#log.warn({ err: cause, upload: uploadId }, 'could not record upload failure'))
    this.#c.metrics.uploads.inc({ status: 'error' })
  }

  async get(accountId: string, id: string): Promise<Upload> {
    const upload = await this.#c.registry.uploads.get(accountId, id)
    if (upload === undefined) throw new UploadNotFoundError(id)
    return upload
  }

  list(accountId: string, options: { limit?: number } = {}): Promise<Upload[]> {
    return this.#c.registry.uploads.list(accountId, options)
  }

  async close(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running])
  }

  async #setStatus(accountId: string, id: string, status: UploadStatus, fields: Parameters<Registry['uploads']['setStatus']>[3]): Promise<Upload> {
    const upload = await this.#c.registry.uploads.setStatus(accountId, id, status, { stage: status, ...fields })
    if (upload === undefined) throw new UploadNotFoundError(id)
    this.#publish(accountId, upload)
    return upload
  }

  #publish(accountId: string, upload: Upload): void {
    this.#c.events?.publish(
      { type: 'upload', id: upload.id, status: upload.status, stage: upload.stage, reason: upload.reason, cid: upload.cid },
      { accountIds: [accountId] },
    )
  }

  #track(task: Promise<unknown>): void {
    this.#running.add(task)
    void task.finally(() => this.#running.delete(task))
  }
}
