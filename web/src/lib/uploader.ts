import * as tus from 'tus-js-client'
import { api, type Upload } from '../api/client'
import type { PickedFile, PickedItem } from './picked'
import { liveEvents } from './events'
import { session } from './session'
import { describeRefusal } from './upload-errors'

/** "folder as one unit" (one CID, immutable) or "files into a directory" (one CID per file). */
export type UploadMode = 'folder' | 'files'

export type ItemStatus = 'queued' | 'uploading' | 'paused' | 'processing' | 'done' | 'error' | 'cancelled'

/** What the transfer in flight rejects with when the user cancels it. */
class Cancelled extends Error {}

export interface UploadItem {
  key: number
  name: string
  kind: 'file' | 'folder'
  mode: UploadMode
  targetPath: string
  totalBytes: number
  sentBytes: number
  fileCount: number
  status: ItemStatus
  /** Server-side stage (importing, saving) while processing; the error otherwise. */
  detail: string | null
  /** The folder CID, or the file CID of a one-file item, once done. */
  cid: string | null
  /** True while a resumable (tus) transfer is part of this item: it can be paused. */
  resumable: boolean
  startedAt: number
}

/** Files at least this big go through tus (resumable); smaller ones share multipart requests. */
const TUS_MIN_BYTES = 8 * 1024 * 1024
const TUS_CHUNK_BYTES = 32 * 1024 * 1024
const BATCH_MAX_BYTES = 64 * 1024 * 1024
const BATCH_MAX_FILES = 500
/** Status polling while the live event stream is down. */
const POLL_MS = 1000
/** A slow re-read while the stream is up, in case an event was missed. */
const SAFETY_POLL_MS = 15_000

type Listener = () => void

/**
 * The upload queue behind the upload panel: runs items one at a time, reports progress per
 * item and overall, and tells listeners when content has landed so listings refresh.
 * Live server-side status (importing → saving → done) follows the event stream (GET /api/v1/events),
 * re-reading GET /api/v1/uploads/{id} on each change; polled only while the stream is down.
 */
class Uploader {
  items: UploadItem[] = []
  #listeners = new Set<Listener>()
  #landed = new Set<(item: UploadItem) => void>()
  #tus = new Map<number, tus.Upload[]>()
  /** Stops the transfer an item has in flight (tus or multipart) and fails it as cancelled. */
  #cancel = new Map<number, () => void>()
  #next = 1
  #running = false

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  onLanded(listener: (item: UploadItem) => void): () => void {
    this.#landed.add(listener)
    return () => this.#landed.delete(listener)
  }

  add(picked: PickedItem[], targetPath: string, mode: UploadMode): void {
    for (const item of picked) {
      this.items = [
        ...this.items,
        {
          key: this.#next++,
          name: item.name,
          kind: item.kind,
          mode: item.kind === 'folder' ? mode : 'files',
          targetPath,
          totalBytes: item.files.reduce((sum, f) => sum + f.file.size, 0),
          sentBytes: 0,
          fileCount: item.files.length,
          status: 'queued',
          detail: null,
          cid: null,
          resumable: false,
          startedAt: Date.now(),
        },
      ]
      this.#files.set(this.items[this.items.length - 1]!.key, item.files)
    }
    this.#emit()
    void this.#run()
  }

  #files = new Map<number, PickedFile[]>()

  overall(): { total: number; sent: number; active: number } {
    let total = 0
    let sent = 0
    let active = 0
    for (const item of this.items) {
      total += item.totalBytes
      sent += item.sentBytes
      if (isActive(item)) active++
    }
    return { total, sent, active }
  }

  clearFinished(): void {
    this.items = this.items.filter(isActive)
    this.#emit()
  }

  /** True while an item can still be cancelled: its bytes are not all with the server yet. */
  cancellable(item: UploadItem): boolean {
    return item.status === 'queued' || item.status === 'uploading' || item.status === 'paused'
  }

  cancel(key: number): void {
    const item = this.items.find((candidate) => candidate.key === key)
    if (!item || !this.cancellable(item)) return
    this.#update(key, { status: 'cancelled', detail: 'cancelled' })
    this.#cancel.get(key)?.()
    this.#files.delete(key)
  }

  pause(key: number): void {
    const uploads = this.#tus.get(key)
    if (!uploads) return
    for (const upload of uploads) void upload.abort()
    this.#update(key, { status: 'paused', detail: 'paused — resume continues where it stopped' })
  }

  resume(key: number): void {
    const uploads = this.#tus.get(key)
    if (!uploads) return
    this.#update(key, { status: 'uploading', detail: null })
    for (const upload of uploads) upload.start()
  }

  async #run(): Promise<void> {
    if (this.#running) return
    this.#running = true
    try {
      for (;;) {
        const item = this.items.find((candidate) => candidate.status === 'queued')
        if (!item) return
        await this.#upload(item).catch((error: unknown) => {
          if (error instanceof Cancelled) return
          this.#update(item.key, { status: 'error', detail: error instanceof Error ? error.message : String(error) })
        })
        this.#cancel.delete(item.key)
      }
    } finally {
      this.#running = false
    }
  }

  async #upload(item: UploadItem): Promise<void> {
    const files = this.#files.get(item.key) ?? []
    this.#update(item.key, { status: 'uploading' })
    const progress = new Map<string, number>()
    const report = (id: string, sent: number) => {
      progress.set(id, sent)
      let total = 0
      for (const value of progress.values()) total += value
      this.#update(item.key, { sentBytes: total })
    }
    let cid: string | null = null
    if (item.mode === 'folder') {
      const upload = await this.#multipart(item, files, 'folder', (sent) => report('folder', sent))
      cid = upload.cid
    } else {
      const large = files.filter((f) => f.file.size >= TUS_MIN_BYTES)
      const small = files.filter((f) => f.file.size < TUS_MIN_BYTES)
      for (const [index, batch] of batches(small).entries()) {
        const upload = await this.#multipart(item, batch, 'files', (sent) => report(`batch${index}`, sent))
        cid = upload.cid
      }
      if (large.length > 0) this.#update(item.key, { resumable: true })
      for (const file of large) cid = await this.#tusUpload(item, file, (sent) => report(file.relativePath, sent))
      this.#tus.delete(item.key)
    }
    this.#update(item.key, {
      status: 'done',
      sentBytes: item.totalBytes,
      detail: null,
      cid: item.kind === 'file' || item.mode === 'folder' ? cid : null,
    })
    this.#files.delete(item.key)
    const done = this.items.find((candidate) => candidate.key === item.key)
    if (done) for (const listener of this.#landed) listener(done)
  }

  /** One multipart request (settings first, then the files), then its status until done. */
  async #multipart(item: UploadItem, files: PickedFile[], mode: UploadMode, onSent: (bytes: number) => void): Promise<Upload> {
    this.#throwIfCancelled(item.key)
    const form = new FormData()
    form.append('path', item.targetPath)
    form.append('mode', mode)
    if (mode === 'folder') form.append('name', item.name)
    form.append('meta', JSON.stringify({ mtimes: Object.fromEntries(files.map((f) => [f.relativePath, f.file.lastModified])) }))
    for (const f of files) form.append('file', f.file, f.relativePath)
    const accepted = await sendForm('/api/v1/uploads?async=true', form, onSent, (cancel) => this.#cancel.set(item.key, cancel))
    onSent(files.reduce((sum, f) => sum + f.file.size, 0))
    return this.#awaitDone(item, accepted.id)
  }

  /**
   * Follows an upload's server-side status to `done` (or `error`): re-reads it whenever the
   * live event stream reports a change for it, polling every second only while the stream is
   * down (and every 15 s as a safety net while it is up).
   */
  async #awaitDone(item: UploadItem, uploadId: string): Promise<Upload> {
    let wake: (() => void) | null = null
    let changed = false
    const off = liveEvents.subscribe((event) => {
      if (event.type !== 'upload' || event.id !== uploadId) return
      changed = true
      wake?.()
    })
    // a stream that drops or (re)connects changes how long to wait: look again now
    const offState = liveEvents.onState(() => wake?.())
    try {
      for (;;) {
        changed = false
        const { data, error } = await api.GET('/api/v1/uploads/{id}', { params: { path: { id: uploadId } } })
        if (error || !data) throw new Error(error?.error.message ?? 'upload status unavailable')
        const upload = data.upload
        if (upload.status === 'done') return upload
        if (upload.status === 'error') throw new Error(`${upload.stage ?? 'upload'} failed: ${upload.reason ?? 'unknown reason'}`)
        this.#update(item.key, { status: 'processing', detail: upload.status === 'receiving' ? 'receiving' : `${upload.status}…` })
        if (changed) continue
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, liveEvents.connected ? SAFETY_POLL_MS : POLL_MS)
          wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
        wake = null
      }
    } finally {
      off()
      offState()
    }
  }

  /** A resumable upload: survives dropped connections (retries) and page reloads (stored URL). */
  #tusUpload(item: UploadItem, picked: PickedFile, onSent: (bytes: number) => void): Promise<string | null> {
    this.#throwIfCancelled(item.key)
    return new Promise((resolve, reject) => {
      const slash = picked.relativePath.lastIndexOf('/')
      const upload = new tus.Upload(picked.file, {
        endpoint: `${window.location.origin}/api/v1/uploads/tus`,
        chunkSize: TUS_CHUNK_BYTES,
        retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: true,
        metadata: {
          filename: slash < 0 ? picked.relativePath : picked.relativePath.slice(slash + 1),
          relativePath: picked.relativePath,
          path: item.targetPath,
          mtime: String(picked.file.lastModified),
        },
        // the same file into the same place by the same user resumes; anything else starts afresh
        fingerprint: async (file) =>
          ['pinfold-tus', session.get()?.label ?? '', item.targetPath, picked.relativePath, file.size, (file as File).lastModified].join('|'),
        // the token current when each request leaves: uploads keep going across renewals
        onBeforeRequest: async (request) => {
          const token = await session.fresh()
          if (token) request.setHeader('Authorization', `Bearer ${token}`)
        },
        onShouldRetry: (error) => {
          const status = error.originalResponse?.getStatus() ?? 0
          if (status === 401) {
            if (!session.get()?.renewable) return false
            // the retry's onBeforeRequest waits for this renewal
            void session.renew()
            return true
          }
          return describeRefusal(status, error.originalResponse?.getBody()).retryable
        },
        onProgress: (sent) => {
          onSent(sent)
          if (sent === picked.file.size) this.#update(item.key, { status: 'processing', detail: 'importing…' })
        },
        onError: (error) => {
          const response = (error as tus.DetailedError).originalResponse
          reject(new Error(describeRefusal(response?.getStatus() ?? 0, response?.getBody()).message))
        },
        onSuccess: async ({ lastResponse }) => {
          try {
            const id = lastResponse.getHeader('Pinfold-Upload-Id') ?? upload.url?.split('/').pop()
            resolve(id ? (await this.#awaitDone(item, id)).cid : null)
          } catch (error) {
            reject(error)
          }
        },
      })
      this.#tus.set(item.key, [...(this.#tus.get(item.key) ?? []), upload])
      this.#cancel.set(item.key, () => {
        // terminate: the server drops the partial upload and its reservation
        void upload.abort(true).catch(() => undefined)
        reject(new Cancelled())
      })
      void upload.findPreviousUploads().then((previous) => {
        const last = previous[0]
        if (last) upload.resumeFromPreviousUpload(last)
        upload.start()
      })
    })
  }

  #throwIfCancelled(key: number): void {
    if (this.items.find((item) => item.key === key)?.status === 'cancelled') throw new Cancelled()
  }

  #update(key: number, patch: Partial<UploadItem>): void {
    this.items = this.items.map((item) => (item.key === key ? { ...item, ...patch } : item))
    this.#emit()
  }

  #emit(): void {
    for (const listener of this.#listeners) listener()
  }
}

function batches(files: PickedFile[]): PickedFile[][] {
  const out: PickedFile[][] = []
  let current: PickedFile[] = []
  let bytes = 0
  for (const f of files) {
    if (current.length > 0 && (bytes + f.file.size > BATCH_MAX_BYTES || current.length >= BATCH_MAX_FILES)) {
      out.push(current)
      current = []
      bytes = 0
    }
    current.push(f)
    bytes += f.file.size
  }
  if (current.length > 0) out.push(current)
  return out
}

/**
 * POST multipart/form-data with upload progress. fetch cannot report request-body progress,
 * so this one call uses XMLHttpRequest; it answers the API's JSON like the typed client does.
 * A 401 renews the session and sends the form once more; `onCancel` receives what aborts it.
 */
async function sendForm(url: string, form: FormData, onSent: (bytes: number) => void, onCancel: (cancel: () => void) => void): Promise<Upload> {
  const first = await postForm(url, form, onSent, onCancel, await session.fresh())
  if (first.status !== 401) return answer(first)
  const renewed = await session.renew()
  return answer(renewed ? await postForm(url, form, onSent, onCancel, renewed) : first)
}

function answer(xhr: XMLHttpRequest): Upload {
  const body = xhr.response as { upload?: Upload } | null
  if (xhr.status >= 200 && xhr.status < 300 && body?.upload) return body.upload
  throw new Error(describeRefusal(xhr.status, xhr.response === null ? null : JSON.stringify(xhr.response)).message)
}

function postForm(url: string, form: FormData, onSent: (bytes: number) => void, onCancel: (cancel: () => void) => void, token: string | null): Promise<XMLHttpRequest> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', url)
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`)
    xhr.responseType = 'json'
    xhr.upload.onprogress = (event) => onSent(event.loaded)
    xhr.onerror = () => reject(new Error(describeRefusal(0, null).message))
    xhr.onabort = () => reject(new Cancelled())
    xhr.onload = () => resolve(xhr)
    onCancel(() => xhr.abort())
    xhr.send(form)
  })
}

export const uploader = new Uploader()

function isActive(item: UploadItem): boolean {
  return item.status !== 'done' && item.status !== 'error' && item.status !== 'cancelled'
}
