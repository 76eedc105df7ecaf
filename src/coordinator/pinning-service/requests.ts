import { CID } from 'multiformats/cid'
import type { NameMatch, PinRequestStatus } from '../../registry/index.ts'
import { badRequest } from './errors.ts'

/** The spec's `Pin` object, validated. */
export interface PinInput {
  cid: string
  name?: string
  origins: string[]
  meta: Record<string, string>
}

/** `GET /pins` filters, validated. Times are ms since the epoch, as exclusive bounds on `created`. */
export interface ListQuery {
  cids?: string[]
  name?: string
  match: NameMatch
  status: PinRequestStatus[]
  before?: number
  after?: number
  limit: number
  meta?: Record<string, string>
}

export const STATUSES: readonly PinRequestStatus[] = ['queued', 'pinning', 'pinned', 'failed']
const MATCHES: readonly NameMatch[] = ['exact', 'iexact', 'partial', 'ipartial']
const MAX_NAME = 255
const MAX_ORIGINS = 20
const MAX_MULTIADDR = 1024
const MAX_META_KEYS = 1000
const MAX_META_BYTES = 64 * 1024
const MAX_CIDS = 10

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Validates a `Pin` body (POST /pins, POST /pins/{requestid}); throws 400 BAD_REQUEST. */
export function parsePin(body: unknown): PinInput {
  if (!isObject(body)) throw badRequest('the body must be a Pin object: {"cid": …}')
  const { cid, name, origins, meta } = body
  if (typeof cid !== 'string') throw badRequest('Pin.cid is required and must be a string')
  const pin: PinInput = { cid: parseCid(cid, 'Pin.cid'), origins: [], meta: {} }
  if (name !== undefined && name !== null) {
    if (typeof name !== 'string') throw badRequest('Pin.name must be a string')
    if (name.length > MAX_NAME) throw badRequest(`Pin.name is limited to ${MAX_NAME} characters`)
    pin.name = name
  }
  if (origins !== undefined && origins !== null) {
    if (!Array.isArray(origins)) throw badRequest('Pin.origins must be an array of multiaddrs')
    if (origins.length > MAX_ORIGINS) throw badRequest(`Pin.origins holds at most ${MAX_ORIGINS} multiaddrs`)
    for (const o of origins) {
      if (typeof o !== 'string' || !o.startsWith('/') || o.length > MAX_MULTIADDR)
        throw badRequest(`Pin.origins must be multiaddrs (strings starting with "/", ≤ ${MAX_MULTIADDR} characters)`)
    }
    if (new Set(origins).size !== origins.length) throw badRequest('Pin.origins must be unique')
    pin.origins = origins as string[]
  }
  if (meta !== undefined && meta !== null) pin.meta = parseMeta(meta, 'Pin.meta')
  return pin
}

/** Validates `GET /pins` query parameters; throws 400 BAD_REQUEST. Unknown parameters are ignored. */
export function parseListQuery(query: Record<string, unknown>): ListQuery {
  const out: ListQuery = { match: 'exact', status: ['pinned'], limit: 10 }
  const cid = csv(query.cid, 'cid')
  if (cid !== undefined) {
    if (cid.length > MAX_CIDS) throw badRequest(`cid takes at most ${MAX_CIDS} CIDs`)
    out.cids = cid.map((c) => parseCid(c, 'cid'))
  }
  const name = single(query.name, 'name')
  if (name !== undefined) {
    if (name.length > MAX_NAME) throw badRequest(`name is limited to ${MAX_NAME} characters`)
    out.name = name
  }
  const match = single(query.match, 'match')
  if (match !== undefined) {
    if (!MATCHES.includes(match as NameMatch)) throw badRequest(`match must be one of ${MATCHES.join(', ')}`)
    out.match = match as NameMatch
  }
  const status = csv(query.status, 'status')
  if (status !== undefined) {
    for (const s of status) if (!STATUSES.includes(s as PinRequestStatus)) throw badRequest(`status must be among ${STATUSES.join(', ')}`)
    out.status = [...new Set(status)] as PinRequestStatus[]
  }
  const before = single(query.before, 'before')
  if (before !== undefined) out.before = parseRfc3339(before, 'before', 'ceil')
  const after = single(query.after, 'after')
  if (after !== undefined) out.after = parseRfc3339(after, 'after', 'floor')
  const limit = single(query.limit, 'limit')
  if (limit !== undefined) {
    if (!/^\d{1,7}$/.test(limit) || Number(limit) < 1 || Number(limit) > 1000) throw badRequest('limit must be an integer from 1 to 1000')
    out.limit = Number(limit)
  }
  const meta = single(query.meta, 'meta')
  if (meta !== undefined) {
    let parsed: unknown
    try {
      parsed = JSON.parse(meta)
    } catch {
      throw badRequest('meta must be a JSON object of string values, e.g. meta={"app_id":"x"}')
    }
    out.meta = parseMeta(parsed, 'meta')
  }
  return out
}

function parseMeta(meta: unknown, what: string): Record<string, string> {
  if (!isObject(meta)) throw badRequest(`${what} must be an object of string values`)
  const entries = Object.entries(meta)
  if (entries.length > MAX_META_KEYS) throw badRequest(`${what} holds at most ${MAX_META_KEYS} keys`)
  for (const [, v] of entries) if (typeof v !== 'string') throw badRequest(`${what} values must be strings`)
  if (Buffer.byteLength(JSON.stringify(meta)) > MAX_META_BYTES) throw badRequest(`${what} is limited to ${MAX_META_BYTES} bytes of JSON`)
  return Object.fromEntries(entries) as Record<string, string>
}

function parseCid(text: string, what: string): string {
  if (text.length === 0 || text.length > 200) throw badRequest(`${what}: invalid CID ${JSON.stringify(text.slice(0, 100))}`)
  try {
    CID.parse(text)
  } catch {
    throw badRequest(`${what}: invalid CID ${JSON.stringify(text)}`)
  }
  return text
}

/** A parameter given once (a repeated one is a 400). */
function single(value: unknown, what: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string') throw badRequest(`${what} must be given once`)
  return value
}

/** A CSV parameter (`?cid=a,b`); repeated parameters (`?cid=a&cid=b`, pre-1.0 clients) are joined. */
function csv(value: unknown, what: string): string[] | undefined {
  if (value === undefined) return undefined
  const parts = (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(','))
  if (parts.length === 0 || parts.some((p) => p === '')) throw badRequest(`${what} must be a comma-separated list without empty items`)
  return parts
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/

/**
 * RFC 3339 date-time → integer ms. A fraction finer than ms is rounded so that, against
 * integer-ms `created` values, `created < before` and `created > after` keep their meaning.
 */
export function parseRfc3339(text: string, what: string, round: 'ceil' | 'floor'): number {
  const m = RFC3339.exec(text)
  if (!m) throw badRequest(`${what} must be an RFC 3339 date-time, e.g. 2020-07-27T17:32:28Z`)
  const fraction = m[7] ?? ''
  const ms = fraction === '' ? '' : fraction.slice(0, 4).padEnd(4, '0') // ".123"
  const finer = /[1-9]/.test(fraction.slice(4))
  const base = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${ms}${m[8]?.toUpperCase()}`)
  if (Number.isNaN(base) || Number(m[2]) > 12 || Number(m[3]) > 31 || Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 60)
    throw badRequest(`${what} is not a valid date-time`)
  return finer && round === 'ceil' ? base + 1 : base
}

/** `created` as the spec shows it: RFC 3339 UTC with milliseconds. */
export function formatRfc3339(ms: number): string {
  return new Date(ms).toISOString()
}
