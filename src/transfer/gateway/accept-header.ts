/** One media range of an `Accept` header, with its parameters (lower-cased names). */
export interface MediaRange {
  type: string
  params: Record<string, string>
  /** Quality weight, 0..1 (default 1). */
  q: number
}

/**
 * Parses an `Accept` header into media ranges ordered by preference: higher `q` first,
 * ties kept in header order (RFC 9110 §12.5.1). Ranges with `q=0` are dropped.
 * Malformed parts are skipped rather than failing the request.
 */
export function parseAccept(header: string | null): MediaRange[] {
  if (header === null || header.trim() === '') return []
  const ranges: MediaRange[] = []
  for (const part of header.split(',')) {
    const range = parseMediaRange(part)
    if (range !== undefined && range.q > 0) ranges.push(range)
  }
  // Array.prototype.sort is stable, so equal weights keep header order.
  return ranges.sort((a, b) => b.q - a.q)
}

function parseMediaRange(part: string): MediaRange | undefined {
  const [rawType = '', ...rawParams] = part.split(';')
  const type = rawType.trim().toLowerCase()
  if (!/^[a-z0-9!#$&^_.+*-]+\/[a-z0-9!#$&^_.+*-]+$/.test(type)) return undefined
  const params: Record<string, string> = {}
  let q = 1
  for (const rawParam of rawParams) {
    const eq = rawParam.indexOf('=')
    if (eq < 0) continue
    const name = rawParam.slice(0, eq).trim().toLowerCase()
    const value = unquote(rawParam.slice(eq + 1).trim())
    if (name === 'q') {
      const weight = Number(value)
      q = Number.isFinite(weight) ? Math.min(Math.max(weight, 0), 1) : 1
    } else if (name !== '') {
      params[name] = value
    }
  }
  return { type, params, q }
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value
}
