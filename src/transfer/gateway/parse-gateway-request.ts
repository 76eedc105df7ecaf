import type { CID } from 'multiformats/cid'
import { assertSafeName, parseCid, UnsafePathError } from '../../core/index.ts'
import { parseAccept, type MediaRange } from './accept-header.ts'
import { type CarOptions, parseCarOptions } from './car-options.ts'
import { InvalidGatewayRequestError, NotAcceptableError } from './gateway-error.ts'

/** Media type of a single raw block. */
export const RAW_MEDIA_TYPE = 'application/vnd.ipld.raw'
/** Media type of a CAR stream. */
export const CAR_MEDIA_TYPE = 'application/vnd.ipld.car'

/** `raw`: one block; `car`: a CAR stream; `unixfs`: deserialized (path gateway) response. */
export type ResponseFormat = 'raw' | 'car' | 'unixfs'

/** A validated `/ipfs/{cid}[/{path}]` request. */
export interface GatewayRequest {
  url: URL
  cid: CID
  /** Decoded path segments after the CID, each a safe entry name. */
  segments: string[]
  /** `/ipfs/{cid}/a/b` with decoded segments, as `X-Ipfs-Path` reports it. */
  contentPath: string
  /** The URL path ends with `/` (directory form). */
  trailingSlash: boolean
  format: ResponseFormat
  /** The format came from `Accept` rather than `?format=` (the response gets `Content-Location`). */
  negotiated: boolean
  /** Present when `format` is `car`. */
  car?: CarOptions
  /** `?filename=` */
  filename?: string
  /** `?download=true` */
  download: boolean
}

/** Formats of the path gateway spec that Pinfold does not produce (answered with 400). */
const UNSUPPORTED_FORMATS = new Set(['tar', 'ipns-record'])
/** Formats that ask for a codec conversion Pinfold never does (answered with 406, as the spec asks). */
const CONVERSION_FORMATS = new Set(['dag-json', 'dag-cbor', 'json', 'cbor'])

/**
 * Parses and validates a request URL and its `Accept` header. Returns `undefined` when
 * the path is not under `/ipfs/` (the caller answers 404). Throws `InvalidCidError`,
 * `UnsafePathError` or {@link InvalidGatewayRequestError} (all 400), or
 * {@link NotAcceptableError} (406) for a codec conversion.
 *
 * Dot segments (`..`) are already folded by WHATWG URL parsing before a `Request`
 * exists; what reaches here as a segment and could still escape (an encoded `/`, `\`,
 * NUL, `..`) is refused rather than normalised.
 */
export function parseGatewayRequest(request: Request): GatewayRequest | undefined {
  const url = new URL(request.url)
  if (!url.pathname.startsWith('/ipfs/')) return undefined
  const rest = url.pathname.slice('/ipfs/'.length)
  const trailingSlash = rest.endsWith('/')
  const [rawCid = '', ...rawSegments] = (trailingSlash ? rest.slice(0, -1) : rest).split('/')
  const cid = parseCid(decodeSegment(rawCid))
  const segments = rawSegments.map((raw) => {
    const segment = decodeSegment(raw)
    assertSafeName(segment)
    return segment
  })
  const { format, negotiated, carRange } = chooseFormat(url.searchParams, parseAccept(request.headers.get('accept')))
  const parsed: GatewayRequest = {
    url,
    cid,
    segments,
    contentPath: ['/ipfs', cid.toString(), ...segments].join('/'),
    trailingSlash,
    format,
    negotiated,
    download: url.searchParams.get('download') === 'true',
  }
  if (format === 'car') {
    parsed.car = parseCarOptions({ query: url.searchParams, acceptParams: carRange?.params ?? {} })
  }
  const filename = url.searchParams.get('filename')
  if (filename !== null && filename !== '') parsed.filename = filename
  return parsed
}

function decodeSegment(raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new UnsafePathError(raw)
  }
}

/**
 * `?format=` wins over `Accept`. Among `Accept` ranges the most preferred raw or CAR
 * type is taken; a CAR range whose parameters Pinfold cannot honour is skipped, and if
 * nothing else matches the request is refused (400) rather than answered differently.
 */
function chooseFormat(
  query: URLSearchParams,
  accept: MediaRange[],
): { format: ResponseFormat; negotiated: boolean; carRange?: MediaRange } {
  const carRanges = accept.filter((range) => range.type === CAR_MEDIA_TYPE)
  const explicit = query.get('format')
  if (explicit !== null && explicit !== '') {
    if (explicit === 'raw') return { format: 'raw', negotiated: false }
    if (explicit === 'car') return withCarRange({ format: 'car', negotiated: false }, carRanges[0])
    if (CONVERSION_FORMATS.has(explicit)) throw new NotAcceptableError(`format ${explicit} is not served: blocks are served as stored (raw or car)`)
    const reason = UNSUPPORTED_FORMATS.has(explicit) ? 'is not supported by this gateway' : 'is unknown'
    throw new InvalidGatewayRequestError(`format ${JSON.stringify(explicit.slice(0, 50))} ${reason} (raw or car)`)
  }
  let refusal: unknown
  for (const range of accept) {
    if (range.type === RAW_MEDIA_TYPE) return { format: 'raw', negotiated: true }
    if (range.type !== CAR_MEDIA_TYPE) continue
    try {
      parseCarOptions({ query, acceptParams: range.params })
      return { format: 'car', negotiated: true, carRange: range }
    } catch (err) {
      refusal ??= err
    }
  }
  if (refusal !== undefined) throw refusal
  return { format: 'unixfs', negotiated: false }
}

function withCarRange(
  result: { format: ResponseFormat; negotiated: boolean },
  range: MediaRange | undefined,
): { format: ResponseFormat; negotiated: boolean; carRange?: MediaRange } {
  return range === undefined ? result : { ...result, carRange: range }
}
