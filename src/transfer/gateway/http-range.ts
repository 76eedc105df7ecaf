/**
 * Outcome of an HTTP `Range` header against a representation of known size:
 * - `full`: no usable range (absent, not `bytes`, malformed, or several ranges: Pinfold
 *   answers multi-range requests with the whole representation, which RFC 9110 allows);
 * - `partial`: one satisfiable range, inclusive bounds clipped to the size;
 * - `unsatisfiable`: a well-formed range that selects nothing (416).
 */
export type RangeOutcome = { kind: 'full' } | { kind: 'partial'; first: number; last: number } | { kind: 'unsatisfiable' }

/** Evaluates a `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) for `size` bytes. */
export function evaluateRange(header: string | null, size: number): RangeOutcome {
  if (header === null) return { kind: 'full' }
  const match = /^\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*$/i.exec(header)
  if (match === null) return { kind: 'full' }
  const [, rawFirst = '', rawLast = ''] = match
  if (rawFirst === '' && rawLast === '') return { kind: 'full' }
  if (rawFirst === '') {
    // Suffix range: the last n bytes.
    const suffix = Number(rawLast)
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' }
    return { kind: 'partial', first: Math.max(0, size - suffix), last: size - 1 }
  }
  const first = Number(rawFirst)
  const last = rawLast === '' ? size - 1 : Number(rawLast)
  if (!Number.isSafeInteger(first) || !Number.isFinite(last) || last < first) {
    // `a-` beyond the end is well-formed but unsatisfiable; `b-a` with b > a is invalid (ignored).
    return rawLast === '' && first >= size ? { kind: 'unsatisfiable' } : { kind: 'full' }
  }
  if (first >= size) return { kind: 'unsatisfiable' }
  return { kind: 'partial', first, last: Math.min(last, size - 1) }
}
