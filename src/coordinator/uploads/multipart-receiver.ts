import { createWriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { FastifyRequest } from 'fastify'
import { PinfoldError } from '../../core/index.ts'
import type { Upload } from '../../registry/index.ts'
import { FileMtimes, parseUploadSettings, SETTING_FIELDS, type UploadSettings } from './upload-fields.ts'
import { checkIncoming, type UploadLimits } from './upload-limits.ts'
import { parseRelativePath, RelativePathSet } from './upload-paths.ts'
import type { ReceivedFile, UploadRequest } from './upload-request.ts'
import { removeDir, type UploadService } from './upload-service.ts'

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
 * Streams a multipart upload to disk part by part (memory stays bounded: one chunk in flight),
 * validating each file's relative path before writing it and counting bytes against `limits`,
 * stopping at the first byte over. Setting fields (`path`, `mode`, `name`, layout) must precede
 * the first file part, since the upload record is created then; `mtime:<n>` and `meta` may come
 * anywhere. On any failure after the record exists it is marked `error` and the spool removed.
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
  let started: { settings: UploadSettings; upload: Upload; treeDir: string; dir: string } | undefined
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
      started ??= await start(service, accountId, parseUploadSettings(fields))
      const diskPath = join(started.treeDir, ...segments)
      await mkdir(dirname(diskPath), { recursive: true })
      const bytes = await spool(part.file, diskPath, (n) => {
        total += n
        checkIncoming(limits, total)
      })
      files.push({ segments, diskPath, bytes })
    }
    if (started === undefined) throw invalid('the upload has no file parts')
  } catch (error) {
    const reported = error instanceof PinfoldError || hasFastifyCode(error) ? error : new InvalidMultipartError(error)
    if (started) await service.fail(accountId, started.upload.id, 'receiving', reported, () => removeDir(started?.dir ?? ''))
    throw reported
  }
  const { settings, upload, treeDir, dir } = started
  for (const [i, file] of files.entries()) {
    const mtime = mtimes.for(i, file.segments.join('/')) ?? settings.mtime
    if (mtime !== undefined) file.mtime = mtime
  }
  const uploadRequest: UploadRequest = {
    mode: settings.mode,
    targetPath: settings.targetPath,
    layout: settings.layout,
    files,
    treeDir,
    discard: () => removeDir(dir),
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
  const dir = await service.workDir(upload.id)
  return { settings, upload, dir, treeDir: join(dir, 'tree') }
}

/** Writes one part to disk, reporting each chunk's size first (so a limit stops it before the write). */
async function spool(source: NodeJS.ReadableStream, path: string, onBytes: (n: number) => void): Promise<number> {
  let bytes = 0
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      try {
        onBytes(chunk.length)
        bytes += chunk.length
        callback(null, chunk)
      } catch (error) {
        callback(error as Error)
      }
    },
  })
  await pipeline(source, counter, createWriteStream(path, { flags: 'wx' }))
  return bytes
}

function hasFastifyCode(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('FST_') && code !== 'FST_MP_PREMATURE_CLOSE'
}
