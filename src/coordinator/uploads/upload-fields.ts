import { PinfoldError, PROFILE_NAMES, type ProfileName, parseChunker } from '../../core/index.ts'
import { LIBRARY, parsePath, validateName } from '../../registry/index.ts'
import type { LayoutOptions, UploadMode } from './upload-request.ts'

/** Upload settings, from the form fields sent before the first file part. */
export interface UploadSettings {
  mode: UploadMode
  targetPath: string
  name?: string
  layout: LayoutOptions
  /** Folder mode: the folder's mtime; files mode: every file's default mtime. */
  mtime?: number
}

/** Fields that shape the upload and so must arrive before the first file part. */
export const SETTING_FIELDS = ['path', 'mode', 'name', 'profile', 'cidVersion', 'rawLeaves', 'chunker', 'mtime'] as const

function invalid(message: string): PinfoldError {
  return new PinfoldError('ERR_VALIDATION', message, { userError: true })
}

/** Validates the setting fields; throws ERR_VALIDATION / ERR_INVALID_PATH before anything is stored. */
export function parseUploadSettings(fields: ReadonlyMap<string, string>): UploadSettings {
  const mode = fields.get('mode') ?? 'files'
  if (mode !== 'files' && mode !== 'folder') throw invalid(`mode must be "files" or "folder", got ${JSON.stringify(mode.slice(0, 50))}`)
  const targetPath = fields.get('path') ?? `/${LIBRARY}`
  parsePath(targetPath)
  const settings: UploadSettings = { mode, targetPath, layout: parseLayout(fields) }
  const name = fields.get('name')
  if (name !== undefined) settings.name = validateName(name)
  const mtime = fields.get('mtime')
  if (mtime !== undefined) settings.mtime = parseMtime('mtime', mtime)
  return settings
}

/** `profile`, `cidVersion`, `rawLeaves`, `chunker`, as `pinfold add` takes them. */
export function parseLayout(fields: { get(name: string): string | undefined }): LayoutOptions {
  const layout: LayoutOptions = {}
  const profile = fields.get('profile')
  if (profile !== undefined) {
    if (!PROFILE_NAMES.includes(profile as ProfileName)) throw invalid(`profile must be one of ${PROFILE_NAMES.join(', ')}`)
    layout.profile = profile as ProfileName
  }
  const cidVersion = fields.get('cidVersion')
  if (cidVersion !== undefined) {
    if (cidVersion !== '0' && cidVersion !== '1') throw invalid('cidVersion must be 0 or 1')
    layout.cidVersion = cidVersion === '0' ? 0 : 1
  }
  const rawLeaves = fields.get('rawLeaves')
  if (rawLeaves !== undefined) {
    if (rawLeaves !== 'true' && rawLeaves !== 'false') throw invalid('rawLeaves must be true or false')
    layout.rawLeaves = rawLeaves === 'true'
  }
  const chunker = fields.get('chunker')
  if (chunker !== undefined) {
    parseChunker(chunker)
    layout.chunker = chunker
  }
  return layout
}

/** Milliseconds since the epoch, as a decimal integer. */
export function parseMtime(field: string, value: string): number {
  const ms = Number(value)
  if (!/^[0-9]{1,16}$/.test(value) || !Number.isSafeInteger(ms)) throw invalid(`${field} must be milliseconds since the epoch`)
  return ms
}

/**
 * Per-file mtimes: fields `mtime:<n>` (n = index of the file part, from 0) and/or one JSON
 * field `meta` = `{"mtimes": {"<relative path>": <ms>}}`; `mtime:<n>` wins.
 */
export class FileMtimes {
  readonly #byIndex = new Map<number, number>()
  #byPath = new Map<string, number>()

  /** True when the field was a per-file mtime field (and consumed). */
  accept(field: string, value: string): boolean {
    const indexed = /^mtime:([0-9]{1,9})$/.exec(field)
    if (indexed?.[1] !== undefined) {
      this.#byIndex.set(Number(indexed[1]), parseMtime(field, value))
      return true
    }
    if (field !== 'meta') return false
    this.#byPath = parseMeta(value)
    return true
  }

  for(index: number, relativePath: string): number | undefined {
    return this.#byIndex.get(index) ?? this.#byPath.get(relativePath)
  }
}

function parseMeta(value: string): Map<string, number> {
  let meta: unknown
  try {
    meta = JSON.parse(value)
  } catch {
    throw invalid('meta must be JSON: {"mtimes": {"<relative path>": <ms since epoch>}}')
  }
  const mtimes = (meta as { mtimes?: unknown } | null)?.mtimes ?? {}
  if (typeof mtimes !== 'object' || mtimes === null || Array.isArray(mtimes)) throw invalid('meta.mtimes must be an object')
  const out = new Map<string, number>()
  for (const [path, ms] of Object.entries(mtimes)) {
    if (!Number.isSafeInteger(ms) || (ms as number) < 0) throw invalid(`meta.mtimes[${JSON.stringify(path.slice(0, 100))}] must be ms since the epoch`)
    out.set(path, ms as number)
  }
  return out
}
