import { createHash } from 'node:crypto'
import type { CID } from 'multiformats/cid'
import type { CarOptions } from './car-options.ts'
import type { GatewayRequest } from './parse-gateway-request.ts'

/** Every `/ipfs/` response is immutable (path gateway spec). */
export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=29030400, immutable'

/** Bumped whenever the generated directory listing HTML changes, to bust caches. */
export const DIRECTORY_LISTING_VERSION = 'pinfold-1'

/**
 * Headers every successful `/ipfs/` response carries: caching, the requested content
 * path, its logical roots, `Vary: Accept` (the format may be negotiated) and nosniff.
 */
export function commonHeaders(request: GatewayRequest, roots: readonly CID[] | undefined): Headers {
  const headers = new Headers({
    'Cache-Control': IMMUTABLE_CACHE_CONTROL,
    'X-Ipfs-Path': encodeContentPath(request),
    Vary: 'Accept',
    'X-Content-Type-Options': 'nosniff',
  })
  if (roots !== undefined) headers.set('X-Ipfs-Roots', roots.map((cid) => cid.toString()).join(','))
  if (request.negotiated) headers.set('Content-Location', contentLocation(request))
  return headers
}

/** `X-Ipfs-Path`: the content path, percent-encoded per segment so it is a valid header value. */
function encodeContentPath(request: GatewayRequest): string {
  return ['/ipfs', request.cid.toString(), ...request.segments.map(encodeURIComponent)].join('/')
}

/** The URL of this response with the negotiated `format` made explicit (for HTTP caches). */
function contentLocation(request: GatewayRequest): string {
  const query = new URLSearchParams(request.url.searchParams)
  query.set('format', request.format)
  return `${request.url.pathname}?${query.toString()}`
}

/** `"<cid>.raw"` for a raw block response. */
export function rawEtag(cid: CID): string {
  return `"${cid}.raw"`
}

/** `"<cid>"` for a deserialized file response. */
export function fileEtag(cid: CID): string {
  return `"${cid}"`
}

/** `"DirIndex-<version>_CID-<cid>"` for a generated directory listing. */
export function directoryListingEtag(cid: CID): string {
  return `"DirIndex-${DIRECTORY_LISTING_VERSION}_CID-${cid}"`
}

/**
 * `"<root>.car.<digest>"` for a CAR response: the digest covers the path and every
 * parameter that changes the bytes (scope, entity-bytes, dups), so it can be computed
 * before resolving anything. Strong: Pinfold's CAR output is deterministic.
 */
export function carEtag(request: GatewayRequest, car: CarOptions): string {
  const bytes = car.entityBytes === undefined ? '' : `${car.entityBytes.from}:${car.entityBytes.to ?? '*'}`
  const key = JSON.stringify([request.segments, car.scope, bytes, car.dups])
  const digest = createHash('sha256').update(key).digest('hex').slice(0, 16)
  return `"${request.cid}.car.${digest}"`
}

/**
 * True when an `If-None-Match` header matches `etag` (weak comparison, `*` matches
 * anything), meaning the client's copy is current and a 304 is due.
 */
export function ifNoneMatchMatches(header: string | null, etag: string): boolean {
  if (header === null) return false
  const bare = (tag: string) => (tag.startsWith('W/') ? tag.slice(2) : tag)
  return header
    .split(',')
    .map((tag) => tag.trim())
    .some((tag) => tag === '*' || bare(tag) === bare(etag))
}

/**
 * A `Content-Disposition` value. Non-ASCII (or quote/backslash) characters become `_`
 * in `filename` and the exact name goes in `filename*` (RFC 8187), as the spec asks.
 */
export function contentDisposition(type: 'inline' | 'attachment', filename: string | undefined): string {
  if (filename === undefined) return type
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_')
  const value = `${type}; filename="${ascii}"`
  return ascii === filename ? value : `${value}; filename*=UTF-8''${encodeRfc8187(filename)}`
}

function encodeRfc8187(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** `Content-Disposition` for a deserialized response: only with `?filename=` or `?download=true`. */
export function deserializedDisposition(request: GatewayRequest, fallbackName: string): string | undefined {
  if (request.download) return contentDisposition('attachment', request.filename ?? fallbackName)
  if (request.filename !== undefined) return contentDisposition('inline', request.filename)
  return undefined
}
