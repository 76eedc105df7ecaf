import { CID } from 'multiformats/cid'
import { InvalidCidError, UnsafePathError } from './errors.ts'

/**
 * Parses a CID string (CIDv0 base58btc or CIDv1 in any multibase multiformats knows).
 * Throws {@link InvalidCidError} on anything else, including surrounding whitespace.
 */
export function parseCid(input: string): CID {
  if (typeof input !== 'string' || input.length === 0 || input.length > 1024) {
    throw new InvalidCidError(String(input))
  }
  try {
    return CID.parse(input)
  } catch (err) {
    throw new InvalidCidError(input, err)
  }
}

/**
 * Parses `CID`, `CID/a/b` or `/ipfs/CID/a/b` into a root CID and path segments.
 * A single trailing slash is tolerated; `.`, `..` and empty segments are refused with
 * {@link UnsafePathError} rather than normalised, so a path names exactly one thing.
 */
export function parseCidPath(input: string): { cid: CID; segments: string[] } {
  let rest = input
  if (rest.startsWith('/ipfs/')) rest = rest.slice('/ipfs/'.length)
  if (rest.endsWith('/')) rest = rest.slice(0, -1)
  const [root = '', ...segments] = rest.split('/')
  const cid = parseCid(root)
  for (const segment of segments) assertSafeName(segment)
  return { cid, segments }
}

/**
 * Refuses an entry name that could escape its parent when written to disk or joined
 * into a path: empty, `.`, `..`, containing `/`, `\` or NUL (CVE-2020-26279).
 * A name containing a separator cannot be absolute without one, so that case is covered.
 */
export function assertSafeName(name: string): void {
  if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    throw new UnsafePathError(name)
  }
}
