import type { ImporterOptions } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { InvalidOptionError } from './errors.ts'

/**
 * `kubo`: `ipfs add` defaults (CIDv0, 256 KiB chunks, 174 links, dag-pb leaves).
 * `v1-2025`: IPIP-499 `unixfs-v1-2025` (CIDv1, raw leaves, 1 MiB chunks, 1024 links).
 */
export type ProfileName = 'kubo' | 'v1-2025'

export const PROFILE_NAMES: readonly ProfileName[] = ['kubo', 'v1-2025']

/** Largest fixed chunk Kubo accepts (boxo `ChunkSizeLimit`): bigger blocks do not travel over bitswap. */
export const MAX_CHUNK_SIZE = 1024 * 1024

/** The subset of import options that decides CIDs. */
export interface LayoutOptions {
  profile?: ProfileName
  cidVersion?: 0 | 1
  rawLeaves?: boolean
  chunker?: string
}

/**
 * Translates Pinfold layout options into ipfs-unixfs-importer options, with Kubo's
 * precedence: the profile gives defaults, `cidVersion` overrides it, CIDv1 implies raw
 * leaves unless `rawLeaves` is given. Throws {@link InvalidOptionError} on bad values.
 */
export function importerOptions(options: LayoutOptions): ImporterOptions {
  const profile = options.profile ?? 'kubo'
  if (!PROFILE_NAMES.includes(profile)) {
    throw new InvalidOptionError(`unknown profile ${JSON.stringify(profile)} (expected ${PROFILE_NAMES.join(' or ')})`)
  }
  const result: ImporterOptions = { profile: profile === 'kubo' ? 'unixfs-v0-2015' : 'unixfs-v1-2025' }
  if (options.cidVersion !== undefined) {
    if (options.cidVersion !== 0 && options.cidVersion !== 1) {
      throw new InvalidOptionError(`cidVersion must be 0 or 1, got ${JSON.stringify(options.cidVersion)}`)
    }
    result.cidVersion = options.cidVersion
    // The importer's profile would otherwise keep its own leaf default; Kubo flips it with the version.
    result.rawLeaves = options.cidVersion === 1
  }
  if (options.rawLeaves !== undefined) result.rawLeaves = options.rawLeaves
  if (options.chunker !== undefined) result.chunker = fixedSize({ chunkSize: parseChunker(options.chunker) })
  return result
}

/** Parses Kubo's `size-N` chunker spec; other chunkers (rabin, buzhash) are not supported. */
export function parseChunker(spec: string): number {
  const match = /^size-([0-9]{1,8})$/.exec(spec)
  const size = match ? Number(match[1]) : Number.NaN
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_CHUNK_SIZE) {
    throw new InvalidOptionError(
      `invalid chunker ${JSON.stringify(String(spec).slice(0, 50))}: expected size-N with 1 <= N <= ${MAX_CHUNK_SIZE}`,
    )
  }
  return size
}
