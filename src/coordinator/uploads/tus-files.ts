import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { FileStore } from '@tus/file-store'
import type { Upload as TusUpload } from '@tus/server'
import { LIBRARY } from '../../registry/index.ts'
import { parseLayout, parseMtime } from './upload-fields.ts'
import { parseRelativePath } from './upload-paths.ts'
import type { UploadRequest } from './upload-request.ts'
import type { UploadService } from './upload-service.ts'

/** Metadata key recording the owning account; set by the server, never trusted from clients. */
export const OWNER_KEY = 'pinfoldAccount'

/**
 * The tus file store: per upload `<id>` (the bytes so far) and `<id>.json` (declared length,
 * metadata). Stateless on top of the directory, so any number of instances may share it.
 */
export function openTusStore(directory: string): FileStore {
  return new FileStore({ directory })
}

/** Ids of the uploads in the store directory (one `<id>.json` each). */
export async function tusUploadIds(directory: string): Promise<string[]> {
  const names = await readdir(directory).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[]
    throw error
  })
  return names.filter((name) => name.endsWith('.json')).map((name) => name.slice(0, -'.json'.length))
}

/** When the upload last received bytes (its data file's mtime), ms since epoch; undefined when it has no data file. */
export async function lastWriteAt(directory: string, id: string): Promise<number | undefined> {
  const info = await stat(join(directory, id)).catch(() => undefined)
  return info?.mtimeMs
}

/** True when every declared byte is in. */
export function isComplete(upload: TusUpload): boolean {
  return upload.size !== undefined && upload.offset === upload.size
}

/** Where a tus upload lands, from its (creation-validated) metadata. */
export function tusTarget(upload: Pick<TusUpload, 'metadata'>): { targetPath: string; name: string } {
  const get = (key: string) => upload.metadata?.[key] ?? undefined
  const segments = parseRelativePath(get('relativePath') ?? get('filename') ?? '')
  return { targetPath: get('path') ?? `/${LIBRARY}`, name: segments.join('/') }
}

/**
 * Imports a complete tus upload like a multipart `files` upload (registry upload id = tus id),
 * creating its upload record if it has none (an upload received by an older version). Its
 * files are removed once it is done or failed. `background`: see `UploadService.complete`.
 */
export async function importTusUpload(
  service: UploadService,
  store: FileStore,
  accountId: string,
  upload: TusUpload,
  options: { background?: boolean } = {},
): Promise<void> {
  const get = (key: string) => upload.metadata?.[key] ?? undefined
  const { targetPath, name } = tusTarget(upload)
  const mtime = get('mtime')
  const request: UploadRequest = {
    mode: 'files',
    targetPath,
    layout: parseLayout({ get }),
    files: [{ segments: name.split('/'), diskPath: join(service.tusDir, upload.id), bytes: upload.size ?? upload.offset, ...(mtime ? { mtime: parseMtime('mtime', mtime) } : {}) }],
    discard: () => store.remove(upload.id),
  }
  await service.get(accountId, upload.id).catch(() => service.begin(accountId, { targetPath, name, id: upload.id }))
  await service.complete(accountId, upload.id, request, options)
}
