import { rejectControlCharacters } from '../core/control-characters.ts'
import { PinfoldError } from '../core/errors.ts'

/** Name of every account's root directory. */
export const LIBRARY = 'Library'
export const MAX_NAME_BYTES = 255
export const MAX_PATH_DEPTH = 256

export function invalidPath(message: string): PinfoldError {
  return new PinfoldError('ERR_INVALID_PATH', message, { userError: true })
}

/**
 * Throws ERR_INVALID_PATH unless `name` is a valid entry name: not empty, not `.` or `..`,
 * no `/` and no NUL, at most 255 UTF-8 bytes; ERR_CONTROL_CHARACTER for other control
 * characters and bidi overrides (names are shown in terminals and listings).
 */
export function validateName(name: string): string {
  if (typeof name !== 'string' || name === '') throw invalidPath('entry name must not be empty')
  if (name === '.' || name === '..') throw invalidPath(`entry name must not be ${JSON.stringify(name)}`)
  if (name.includes('/')) throw invalidPath(`entry name must not contain "/": ${JSON.stringify(name.slice(0, 100))}`)
  if (name.includes('\0')) throw invalidPath('entry name must not contain NUL')
  rejectControlCharacters(name, 'entry name')
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES)
    throw invalidPath(`entry name is longer than ${MAX_NAME_BYTES} bytes`)
  return name
}

/**
 * Splits an absolute registry path (`/Library/a/b`, one trailing `/` tolerated) into the
 * segments below the Library root (`['a', 'b']`). Throws ERR_INVALID_PATH for relative
 * paths, empty segments, `.`/`..`, or a root other than `/Library`.
 */
export function parsePath(path: string): string[] {
  if (typeof path !== 'string' || !path.startsWith('/')) throw invalidPath('path must start with /Library')
  let p = path
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1)
  const segments = p.slice(1).split('/')
  if (segments[0] !== LIBRARY) throw invalidPath('path must start with /Library')
  const rest = segments.slice(1)
  if (rest.length > MAX_PATH_DEPTH) throw invalidPath(`path is deeper than ${MAX_PATH_DEPTH} levels`)
  for (const s of rest) validateName(s)
  return rest
}

/** Inverse of {@link parsePath}. */
export function formatPath(segments: readonly string[]): string {
  return `/${[LIBRARY, ...segments].join('/')}`
}
