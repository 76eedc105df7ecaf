import type { FastifyRequest } from 'fastify'
import { PinfoldError } from '../../core/index.ts'
import type { Upload } from '../../registry/index.ts'
import { folderNeedsName, type StreamingImport, type StreamingImportOptions } from './import-upload.ts'
import { FileMtimes, parseUploadSettings, SETTING_FIELDS, type UploadSettings } from './upload-fields.ts'
import { checkIncoming, type UploadLimits } from './upload-limits.ts'
import { parseRelativePath, RelativePathSet } from './upload-paths.ts'
import type { ReceivedFile, UploadRequest } from './upload-request.ts'
import type { UploadService } from './upload-service.ts'

/** Busboy options for upload bodies (the plugin's defaults suit small forms, not folders). */
export const MULTIPART_OPTIONS = {
  // keep `a/b/c.txt` (busboy would cut it to its basename): the relative path is the point
  preservePath: true,
  // we count bytes ourselves against the account's limits; busboy's per-file limit would
  // otherwise default to the JSON body limit
  throwFileSizeLimit: false,
  limits: { fileSize: Number.MAX_SAFE_INTEGER, files: 100_000, fields: 100_100, parts: 200_100, fieldSize: 1024 * 1024 },
}

export interface ReceivedUpload {
  upload: Upload
  request: UploadRequest
}

/** Failures of the body itself (truncated, malformed, aborted): the client's fault. */
class InvalidMultipartError extends PinfoldError {
  constructor(cause: unknown) {
    const message = cause instanceof Error ? cause.message : String(cause)
    super('ERR_INVALID_MULTIPART', `malformed or incomplete multipart body: ${message}`, { cause, userError: true })
  }
}

function invalid(message: string): PinfoldError {
  return new PinfoldError('ERR_VALIDATION', message, { userError: true })
}

/**
 * Receives a multipart upload part by part, importing each file part into the origin repo as
 * it arrives (`service.openImport`; memory stays bounded: one part in flight, read by the
 * importer before the next is parsed). Each file's relative path is validated before any of its
 * bytes are read, and bytes are counted against `limits`, stopping at the first byte over.
 * Setting fields (`path`, `mode`, `name`, layout) must precede the first file part, since the
 * upload record and the import start then; `mtime:<n>` and `meta` may come anywhere. Resolves
 * once the whole body was read and imported, nothing pinned yet: `service.complete` finishes
 * and pins. On any failure after the record exists it is marked `error` and the import aborted
 * (its unpinned blocks are left to GC), so nothing of a refused upload is registered or pinned.
 */
export async function receiveMultipart(
  request: FastifyRequest,
  context: { service: UploadService; accountId: string; limits: UploadLimits },
): Promise<ReceivedUpload> {
  const { service, accountId, limits } = context
  const fields = new Map<string, string>()
  const mtimes = new FileMtimes()
  const paths = new RelativePathSet()
  const files: ReceivedFile[] = []
  let started: { settings: UploadSettings; upload: Upload; importing: StreamingImport } | undefined
  let folderTop: string | undefined
  let total = 0
  try {
    for await (const part of request.parts()) {
      if (part.type === 'field') {
        const value = typeof part.value === 'string' ? part.value : JSON.stringify(part.value)
        if (part.valueTruncated) throw invalid(`field ${part.fieldname} is too long`)
        if (mtimes.accept(part.fieldname, value)) continue
        acceptSetting(fields, part.fieldname, value, started !== undefined)
        continue
      }
      const segments = parseRelativePath(part.filename)
      paths.add(segments)
      const settings = started?.settings ?? parseUploadSettings(fields)
      // a folder without a name is named by the top-level directory all its paths share
      if (settings.mode === 'folder' && settings.name === undefined) {
        folderTop ??= segments[0]
        if (segments.length < 2 || segments[0] !== folderTop) throw folderNeedsName()
      }
      started ??= await start(service, accountId, settings)
      const file: ReceivedFile = { segments, bytes: 0 }
      await started.importing.addFile(
        segments,
        counted(part.file, (n) => {
          total += n
          checkIncoming(limits, total)
          file.bytes += n
        }),
      )
      files.push(file)
    }
    if (started === undefined) throw invalid('the upload has no file parts')
  } catch (error) {
    const reported = error instanceof PinfoldError || hasFastifyCode(error) ? error : new InvalidMultipartError(error)
    if (started) {
      const { importing } = started
      await service.fail(accountId, started.upload.id, 'receiving', reported, () => importing.abort(reported))
    }
    throw reported
  }
  const { settings, upload, importing } = started
  for (const [i, file] of files.entries()) {
    const mtime = mtimes.for(i, file.segments.join('/')) ?? settings.mtime
    if (mtime !== undefined) file.mtime = mtime
  }
  const uploadRequest: UploadRequest = {
    mode: settings.mode,
    targetPath: settings.targetPath,
    layout: settings.layout,
    files,
    import: importing,
    discard: () => importing.abort(),
  }
  if (settings.name !== undefined) uploadRequest.name = settings.name
  if (settings.mtime !== undefined) uploadRequest.mtime = settings.mtime
  return { upload, request: uploadRequest }
}

function acceptSetting(fields: Map<string, string>, name: string, value: string, afterFiles: boolean): void {
  if (!(SETTING_FIELDS as readonly string[]).includes(name)) throw invalid(`unknown field ${JSON.stringify(name.slice(0, 100))}`)
  if (afterFiles) throw invalid(`field ${name} must come before the first file part`)
  if (fields.has(name)) throw invalid(`field ${name} given twice`)
  fields.set(name, value)
}

async function start(service: UploadService, accountId: string, settings: UploadSettings) {
  const input: { targetPath: string; name?: string } = { targetPath: settings.targetPath }
  if (settings.name !== undefined) input.name = settings.name
  const upload = await service.begin(accountId, input)
  const options: StreamingImportOptions = { mode: settings.mode, layout: settings.layout }
  if (settings.name !== undefined) options.name = settings.name
  return { settings, upload, importing: service.openImport(options) }
}

/** A part's bytes, each chunk reported before it is passed on (so a limit stops it before the import sees it). */
async function* counted(source: AsyncIterable<Uint8Array>, onBytes: (n: number) => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    onBytes(chunk.length)
    yield chunk
  }
}

function hasFastifyCode(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('FST_') && code !== 'FST_MP_PREMATURE_CLOSE'
}
