import { InvalidOptionError } from '../core/errors.ts'
import { compareBytes, ID_BYTES, InvalidSyncMessageError, MAX_CID_BYTES, tryPinId } from './pin-id.ts'
import { EMPTY_FINGERPRINT, FINGERPRINT_BYTES, type PinSet, type PinSnapshot } from './pin-set.ts'
import type { Bound } from './pin-set.ts'
import { boundSize, Mode, Reader, TO_INITIATOR, TO_RESPONDER, varintSize, Writer } from './wire.ts'

export interface ReconcileOptions {
  /** Sub-ranges a mismatched range is split into (2–64, default 16). */
  branching?: number
  /** A mismatched range with at most this many local items is answered with the items (1–1024, default 32). */
  itemThreshold?: number
  /** Largest message this side sends (≥ 4096, default 256 KiB); more rounds rather than one huge message. */
  maxMessageBytes?: number
  /** Largest message this side accepts (default 16 MiB). */
  maxIncomingBytes?: number
}

interface Limits {
  branching: number
  itemThreshold: number
  maxMessageBytes: number
  maxIncomingBytes: number
}

const MIN_MESSAGE_BYTES = 4096
/** Worst-case bytes of one fingerprint range: bound (33) + mode (1) + fingerprint (16). */
const FINGERPRINT_RANGE_MAX = 1 + ID_BYTES + 1 + FINGERPRINT_BYTES
/** Always kept free: a skip range and the fingerprint of the unanswered rest. */
const RESERVE = 2 * FINGERPRINT_RANGE_MAX
/** Worst-case bytes of a list range before its items: bound + mode + two counts. */
const LIST_OVERHEAD = 1 + ID_BYTES + 1 + 9 + 9
const MIN_BOUND = new Uint8Array(0)

function limits(options: ReconcileOptions): Limits {
  const pick = (name: keyof ReconcileOptions, value: number | undefined, fallback: number, min: number, max: number) => {
    const v = value ?? fallback
    if (!Number.isInteger(v) || v < min || v > max) throw new InvalidOptionError(`${name} must be an integer in [${min}, ${max}], got ${v}`)
    return v
  }
  return {
    branching: pick('branching', options.branching, 16, 2, 64),
    itemThreshold: pick('itemThreshold', options.itemThreshold, 32, 1, 1024),
    maxMessageBytes: pick('maxMessageBytes', options.maxMessageBytes, 256 * 1024, MIN_MESSAGE_BYTES, 2 ** 30),
    maxIncomingBytes: pick('maxIncomingBytes', options.maxIncomingBytes, 16 * 2 ** 20, MIN_MESSAGE_BYTES, 2 ** 30),
  }
}

function sameBound(a: Bound, b: Bound): boolean {
  if (a === null || b === null) return a === b
  return a.byteLength === b.byteLength && compareBytes(a, b) === 0
}

/** Shortest prefix of `next` that sorts above `prev` (prev < next): the bound between them. */
function separator(prev: Uint8Array, next: Uint8Array): Uint8Array {
  let c = 0
  while (c < ID_BYTES - 1 && prev[c] === next[c]) c++
  return next.slice(0, c + 1)
}

function inRange(id: Uint8Array, lower: Uint8Array, upper: Bound): boolean {
  return compareBytes(id, lower) >= 0 && (upper === null || compareBytes(id, upper) < 0)
}

/** One range of an incoming message, validated. */
interface RangeIn {
  lower: Uint8Array
  upper: Bound
  mode: Mode
  fingerprint?: Uint8Array
  /** IdList ids or Diff "have" ids, flat (32 bytes each), strictly increasing, in range. */
  ids?: Uint8Array
  /** ItemList or Diff "need" items, strictly increasing by id, in range. */
  items?: { id: Uint8Array; cid: Uint8Array }[]
}

function parseIds(r: Reader, range: RangeIn, what: string): Uint8Array {
  const n = r.count(ID_BYTES, what)
  const ids = r.take(n * ID_BYTES, what)
  let prev: Uint8Array | undefined
  for (let k = 0; k < n; k++) {
    const id = ids.subarray(k * ID_BYTES, (k + 1) * ID_BYTES)
    if (!inRange(id, range.lower, range.upper)) throw new InvalidSyncMessageError(`${what} id outside its range`)
    if (prev !== undefined && compareBytes(prev, id) >= 0) throw new InvalidSyncMessageError(`${what} ids not strictly increasing`)
    prev = id
  }
  return ids
}

function parseItems(r: Reader, range: RangeIn, what: string): { id: Uint8Array; cid: Uint8Array }[] {
  const n = r.count(3, what)
  const items: { id: Uint8Array; cid: Uint8Array }[] = []
  let prev: Uint8Array | undefined
  for (let k = 0; k < n; k++) {
    const len = r.varint(`${what} CID length`)
    if (len > MAX_CID_BYTES) throw new InvalidSyncMessageError(`${what} CID of ${len} bytes (max ${MAX_CID_BYTES})`)
    const cid = r.take(len, `${what} CID`)
    const id = tryPinId(cid)
    if (id === undefined) throw new InvalidSyncMessageError(`${what} holds bytes that are not a CID`)
    if (!inRange(id, range.lower, range.upper)) throw new InvalidSyncMessageError(`${what} CID outside its range`)
    if (prev !== undefined && compareBytes(prev, id) >= 0) throw new InvalidSyncMessageError(`${what} CIDs not strictly increasing by pin id`)
    prev = id
    items.push({ id, cid })
  }
  return items
}

/** Parses and validates a whole message before anything acts on it. */
function parseMessage(message: Uint8Array, header: number, accepted: readonly Mode[], maxBytes: number): RangeIn[] {
  if (!(message instanceof Uint8Array)) throw new InvalidSyncMessageError('not bytes')
  if (message.byteLength > maxBytes) throw new InvalidSyncMessageError(`${message.byteLength} bytes exceeds the limit of ${maxBytes}`)
  const r = new Reader(message)
  const first = r.byte('header')
  if (first !== header) {
    const wrongWay = first === TO_INITIATOR || first === TO_RESPONDER
    throw new InvalidSyncMessageError(wrongWay ? 'message sent to the wrong role' : `unknown header byte 0x${first.toString(16)}`)
  }
  const ranges: RangeIn[] = []
  let lower: Bound = MIN_BOUND
  while (r.remaining > 0) {
    if (lower === null) throw new InvalidSyncMessageError('range after the +∞ bound')
    const upper = r.bound()
    if (upper !== null && compareBytes(upper, lower) <= 0) throw new InvalidSyncMessageError('range bounds not increasing')
    const mode = r.byte('mode') as Mode
    if (!accepted.includes(mode)) throw new InvalidSyncMessageError(`mode ${mode} not accepted here`)
    const range: RangeIn = { lower, upper, mode }
    if (mode === Mode.Fingerprint) range.fingerprint = r.fingerprint()
    else if (mode === Mode.IdList) range.ids = parseIds(r, range, 'id list')
    else if (mode === Mode.ItemList) range.items = parseItems(r, range, 'item list')
    else if (mode === Mode.Diff) {
      range.items = parseItems(r, range, 'diff needs')
      range.ids = parseIds(r, range, 'diff haves')
    }
    ranges.push(range)
    lower = upper
  }
  return ranges
}

/** Builds one outgoing message within a byte budget; ranges are contiguous, gaps become Skip. */
class Emitter {
  readonly w = new Writer()
  readonly budget: number
  /** Upper bound of the last range written. */
  upto: Bound = MIN_BOUND
  /** Ranges written that are not Skip. */
  active = 0

  constructor(header: number, budget: number) {
    this.budget = budget
    this.w.byte(header)
  }

  /** Bytes still free for a range starting at `lower`, keeping the reserve. */
  free(lower: Uint8Array): number {
    const gap = sameBound(lower, this.upto) ? 0 : boundSize(lower) + 1
    return this.budget - RESERVE - this.w.length - gap
  }

  open(lower: Uint8Array, upper: Bound, mode: Mode): void {
    if (!sameBound(lower, this.upto)) {
      this.w.bound(lower)
      this.w.byte(Mode.Skip)
    }
    this.w.bound(upper)
    this.w.byte(mode)
    this.upto = upper
    if (mode !== Mode.Skip) this.active++
  }
}

/** State shared by both roles: a frozen snapshot and the limits. */
abstract class Party {
  protected readonly snap: PinSnapshot
  protected readonly limits: Limits

  constructor(set: PinSet, options: ReconcileOptions) {
    this.limits = limits(options)
    this.snap = set.snapshot()
  }

  /**
   * Answers a mismatched fingerprint range by splitting it into up to `branching` sub-ranges
   * of equal local count. Returns false when it does not fit (the caller cuts there).
   */
  protected split(out: Emitter, lower: Uint8Array, upper: Bound, i: number, j: number): boolean {
    const snap = this.snap
    const parts = Math.min(this.limits.branching, j - i)
    const cuts: number[] = []
    const bounds: Bound[] = []
    let size = 0
    for (let k = 1; k <= parts; k++) {
      const at = k === parts ? j : i + Math.floor(((j - i) * k) / parts)
      const bound = k === parts ? upper : separator(snap.id(at - 1), snap.id(at))
      cuts.push(at)
      bounds.push(bound)
      size += boundSize(bound) + 1 + FINGERPRINT_BYTES
    }
    if (size > out.free(lower)) return false
    let from = i
    let lo: Uint8Array = lower
    for (let k = 0; k < parts; k++) {
      const bound = bounds[k] as Bound
      out.open(lo, bound, Mode.Fingerprint)
      out.w.bytes(snap.fingerprint(from, cuts[k] as number))
      from = cuts[k] as number
      if (bound !== null) lo = bound
    }
    return true
  }

  /**
   * Sends the local ids (initiator, IdList) or CIDs (responder, ItemList) of [i, j) — as many
   * as fit. Returns the bound where it stopped (null when all were sent).
   */
  protected list(out: Emitter, mode: Mode, lower: Uint8Array, upper: Bound, i: number, j: number): Uint8Array | null {
    const snap = this.snap
    const free = out.free(lower) - LIST_OVERHEAD
    let size = 0
    let k = i
    for (; k < j; k++) {
      const cost = mode === Mode.IdList ? ID_BYTES : varintSize(snap.cid(k).byteLength) + snap.cid(k).byteLength
      if (size + cost > free) break
      size += cost
    }
    if (k === i && j > i) return lower
    const end = k === j ? upper : separator(snap.id(k - 1), snap.id(k))
    out.open(lower, end, mode)
    out.w.varint(k - i)
    for (let m = i; m < k; m++) {
      if (mode === Mode.IdList) out.w.bytes(snap.id(m))
      else {
        const cid = snap.cid(m)
        out.w.varint(cid.byteLength)
        out.w.bytes(cid)
      }
    }
    return k === j ? null : (end as Uint8Array)
  }

  /** Ends a message cut short: one fingerprint over everything from `cursor` up. */
  protected rest(out: Emitter, cursor: Uint8Array): void {
    out.open(cursor, null, Mode.Fingerprint)
    out.w.bytes(this.snap.fingerprint(this.snap.lowerBound(cursor), this.snap.size))
  }
}

/** What one call of {@link SyncInitiator.reconcile} learned. */
export interface ReconcileResult {
  /** Next message for the responder, or undefined when reconciliation is complete. */
  reply?: Uint8Array
  /** CIDs held here that the responder's set lacks (→ unpin), found in this round. */
  have: Uint8Array[]
  /** CIDs in the responder's set not held here (→ pin), found in this round. */
  need: Uint8Array[]
}

/**
 * The storage node's side: it holds `set` (what is pinned), starts the exchange and is the
 * one that learns the differences. Stateful only in its counters: every reply is computed
 * from the incoming message and the snapshot taken at construction.
 *
 * ```ts
 * const node = new SyncInitiator(held), coordinator = new SyncResponder(desired)
 * let msg: Uint8Array | undefined = node.initiate()
 * while (msg) { const r = node.reconcile(coordinator.respond(msg)); unpin(r.have); pin(r.need); msg = r.reply }
 * ```
 */
export class SyncInitiator extends Party {
  /** Round trips so far, and bytes each way. */
  readonly stats = { roundTrips: 0, bytesSent: 0, bytesReceived: 0 }

  constructor(held: PinSet, options: ReconcileOptions = {}) {
    super(held, options)
  }

  /** The first message: the fingerprint of the whole held set. */
  initiate(): Uint8Array {
    const out = new Emitter(TO_RESPONDER, this.limits.maxMessageBytes)
    out.open(MIN_BOUND, null, Mode.Fingerprint)
    out.w.bytes(this.snap.fingerprint(0, this.snap.size))
    const message = out.w.finish()
    this.stats.bytesSent += message.byteLength
    return message
  }

  /** Processes a responder message. Throws ERR_INVALID_SYNC_MESSAGE for anything malformed or false. */
  reconcile(message: Uint8Array): ReconcileResult {
    const ranges = parseMessage(message, TO_INITIATOR, [Mode.Skip, Mode.Fingerprint, Mode.ItemList, Mode.Diff], this.limits.maxIncomingBytes)
    this.stats.roundTrips++
    this.stats.bytesReceived += message.byteLength
    const snap = this.snap
    const out = new Emitter(TO_RESPONDER, this.limits.maxMessageBytes)
    const have: Uint8Array[] = []
    const need: Uint8Array[] = []
    let i = 0
    for (const range of ranges) {
      i = snap.lowerBound(range.lower, i)
      const j = snap.lowerBound(range.upper, i)
      let cut: Uint8Array | null = null
      if (range.mode === Mode.Fingerprint) {
        const theirs = range.fingerprint as Uint8Array
        const local = snap.fingerprint(i, j)
        if (compareBytes(local, theirs) === 0) {
          // reconciled
        } else if (compareBytes(theirs, EMPTY_FINGERPRINT) === 0) {
          for (let k = i; k < j; k++) have.push(snap.cid(k).slice())
        } else if (j - i <= this.limits.itemThreshold) {
          cut = this.list(out, Mode.IdList, range.lower, range.upper, i, j)
        } else if (!this.split(out, range.lower, range.upper, i, j)) {
          cut = range.lower
        }
      } else if (range.mode === Mode.ItemList) {
        const items = range.items ?? []
        let k = i
        for (const item of items) {
          while (k < j && snap.compareAt(k, item.id) < 0) have.push(snap.cid(k++).slice())
          if (k < j && snap.compareAt(k, item.id) === 0) k++
          else need.push(item.cid.slice())
        }
        while (k < j) have.push(snap.cid(k++).slice())
      } else if (range.mode === Mode.Diff) {
        for (const item of range.items ?? []) {
          if (snap.indexOf(item.id) >= 0) throw new InvalidSyncMessageError('diff names as missing a pin that is held')
          need.push(item.cid.slice())
        }
        const ids = range.ids ?? new Uint8Array(0)
        for (let o = 0; o < ids.byteLength; o += ID_BYTES) {
          const k = snap.lowerBound(ids.subarray(o, o + ID_BYTES), i, j)
          if (k >= j || snap.compareAt(k, ids.subarray(o, o + ID_BYTES)) !== 0) {
            throw new InvalidSyncMessageError('diff names as extra a pin that is not held')
          }
          have.push(snap.cid(k).slice())
        }
      }
      if (cut !== null) {
        this.rest(out, cut)
        break
      }
      i = j
    }
    if (out.active === 0) return { have, need }
    const reply = out.w.finish()
    this.stats.bytesSent += reply.byteLength
    return { reply, have, need }
  }
}

/**
 * The coordinator's side: it holds the node's desired set (its allocations) and only answers.
 * Stateless between messages, so one instance can answer a node's whole session (or several
 * nodes with the same desired set); the snapshot is taken at construction.
 */
export class SyncResponder extends Party {
  constructor(desired: PinSet, options: ReconcileOptions = {}) {
    super(desired, options)
  }

  /** Answers an initiator message. Throws ERR_INVALID_SYNC_MESSAGE for anything malformed. */
  respond(message: Uint8Array): Uint8Array {
    const ranges = parseMessage(message, TO_RESPONDER, [Mode.Skip, Mode.Fingerprint, Mode.IdList], this.limits.maxIncomingBytes)
    const snap = this.snap
    const out = new Emitter(TO_INITIATOR, this.limits.maxMessageBytes)
    let i = 0
    for (const range of ranges) {
      i = snap.lowerBound(range.lower, i)
      const j = snap.lowerBound(range.upper, i)
      let cut: Uint8Array | null = null
      if (range.mode === Mode.Fingerprint) {
        const theirs = range.fingerprint as Uint8Array
        if (compareBytes(snap.fingerprint(i, j), theirs) === 0) {
          // reconciled
        } else if (compareBytes(theirs, EMPTY_FINGERPRINT) === 0 || j - i <= this.limits.itemThreshold) {
          cut = this.list(out, Mode.ItemList, range.lower, range.upper, i, j)
        } else if (!this.split(out, range.lower, range.upper, i, j)) {
          cut = range.lower
        }
      } else if (range.mode === Mode.IdList) {
        cut = this.#diff(out, range, i, j)
      }
      if (cut !== null) {
        this.rest(out, cut)
        break
      }
      i = j
    }
    return out.w.finish()
  }

  /** Answers the initiator's ids of a range with what it lacks and what it holds in excess. */
  #diff(out: Emitter, range: RangeIn, i: number, j: number): Uint8Array | null {
    const snap = this.snap
    const theirs = range.ids ?? new Uint8Array(0)
    const t = theirs.byteLength / ID_BYTES
    const free = out.free(range.lower) - LIST_OVERHEAD
    const needs: number[] = []
    const haves: number[] = []
    let size = 0
    let a = i
    let b = 0
    let prev: Uint8Array | undefined
    let end: Bound = range.upper
    while (a < j || b < t) {
      const theirId = b < t ? theirs.subarray(b * ID_BYTES, (b + 1) * ID_BYTES) : undefined
      const cmp = theirId === undefined ? -1 : a < j ? snap.compareAt(a, theirId) : 1
      const x = cmp <= 0 ? snap.id(a) : (theirId as Uint8Array)
      const cost = cmp === 0 ? 0 : cmp < 0 ? varintSize(snap.cid(a).byteLength) + snap.cid(a).byteLength : ID_BYTES
      if (size + cost > free) {
        if (prev === undefined) return range.lower
        end = separator(prev, x)
        break
      }
      size += cost
      if (cmp < 0) needs.push(a++)
      else if (cmp > 0) haves.push(b++)
      else {
        a++
        b++
      }
      prev = x
    }
    out.open(range.lower, end, Mode.Diff)
    out.w.varint(needs.length)
    for (const k of needs) {
      const cid = snap.cid(k)
      out.w.varint(cid.byteLength)
      out.w.bytes(cid)
    }
    out.w.varint(haves.length)
    for (const k of haves) out.w.bytes(theirs.subarray(k * ID_BYTES, (k + 1) * ID_BYTES))
    return end === range.upper ? null : (end as Uint8Array)
  }
}
