import { PinfoldError } from '../../core/index.ts'
import { validateName } from '../../registry/index.ts'

/** Deepest relative path accepted inside one upload. */
const MAX_RELATIVE_DEPTH = 64

function invalidPath(message: string): PinfoldError {
  return new PinfoldError('ERR_INVALID_PATH', message, { userError: true })
}

/**
 * Splits a client-supplied relative path (`a/b/c.txt`, as browsers send `webkitRelativePath`)
 * into validated segments. Refuses absolute paths, empty, `.` and `..` segments, `\` (a
 * Windows separator that would be a traversal elsewhere) and NUL — before anything is stored,
 * because these names become directories on disk and entries in the registry.
 */
export function parseRelativePath(path: string): string[] {
  if (typeof path !== 'string' || path === '') throw invalidPath('a file part needs a filename')
  if (path.startsWith('/')) throw invalidPath(`relative path must not be absolute: ${JSON.stringify(path.slice(0, 200))}`)
  if (path.includes('\\')) throw invalidPath(`relative path must not contain "\\": ${JSON.stringify(path.slice(0, 200))}`)
  const segments = path.split('/')
  if (segments.length > MAX_RELATIVE_DEPTH) throw invalidPath(`relative path is deeper than ${MAX_RELATIVE_DEPTH} levels`)
  for (const segment of segments) validateName(segment)
  return segments
}

/**
 * Tracks the relative paths of one upload and refuses duplicates and file/directory clashes
 * (`a` as a file and `a/b`), which would otherwise overwrite each other on disk.
 */
export class RelativePathSet {
  readonly #files = new Set<string>()
  readonly #dirs = new Set<string>()

  add(segments: string[]): void {
    const path = segments.join('/')
    if (this.#files.has(path) || this.#dirs.has(path)) throw invalidPath(`duplicate path in upload: ${JSON.stringify(path)}`)
    for (let i = 1; i < segments.length; i++) {
      const dir = segments.slice(0, i).join('/')
      if (this.#files.has(dir)) throw invalidPath(`${JSON.stringify(dir)} is both a file and a directory in this upload`)
      this.#dirs.add(dir)
    }
    this.#files.add(path)
  }
}

/** The top-level directory every path shares (`photos` for `photos/a`, `photos/b/c`), if any. */
export function commonTopDirectory(paths: readonly string[][]): string | undefined {
  const first = paths[0]?.[0]
  if (first === undefined) return undefined
  return paths.every((segments) => segments.length > 1 && segments[0] === first) ? first : undefined
}
