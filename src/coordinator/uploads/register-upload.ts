import { formatPath, type PinOptions, parsePath, type Registry } from '../../registry/index.ts'
import type { ImportedUpload } from './import-upload.ts'
import type { UploadedEntry, UploadRequest } from './upload-request.ts'

/**
 * Adds the registry entries of an imported upload (each ensures the CID's registry pin and
 * references it, in its own transaction). Files land under their relative directories inside
 * the target, created as needed. Not atomic across files: a failure part-way leaves the
 * entries added so far (each one valid and pinned) and the upload is reported `error`.
 */
export async function registerUpload(
  registry: Registry,
  accountId: string,
  request: UploadRequest,
  imported: ImportedUpload,
  pin: PinOptions = {},
): Promise<UploadedEntry[]> {
  await registry.entries.mkdir(accountId, request.targetPath, { recursive: true })
  const target = parsePath(request.targetPath)
  if (imported.folder) {
    const size = request.files.reduce((sum, file) => sum + file.bytes, 0)
    const { cid, name } = imported.folder
    const entry = await registry.entries.addFolder(accountId, request.targetPath, {
      name,
      cid: cid.toString(),
      size,
      mtime: request.mtime,
      createParents: true,
      pin,
    })
    return [{ id: entry.id, path: formatPath([...target, name]), kind: 'folder', cid: cid.toString(), size }]
  }
  const entries: UploadedEntry[] = []
  for (const [i, file] of request.files.entries()) {
    const cid = imported.fileCids[i]?.toString() ?? ''
    const dir = [...target, ...file.segments.slice(0, -1)]
    const name = file.segments.at(-1) ?? ''
    const entry = await registry.entries.addFile(accountId, formatPath(dir), {
      name,
      cid,
      size: file.bytes,
      mtime: file.mtime,
      createParents: true,
      pin,
    })
    entries.push({ id: entry.id, path: formatPath([...dir, name]), kind: 'file', cid, size: file.bytes })
  }
  return entries
}
