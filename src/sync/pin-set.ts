import { createHash } from 'node:crypto'
import { InvalidCidError } from '../core/errors.ts'
import { compareBytes, ID_BYTES, idKey, tryPinId, writePinId } from './pin-id.ts'

/** Bytes of a range fingerprint on the wire. */
export const FINGERPRINT_BYTES = 16
const LIMBS = ID_BYTES / 4

/**
 * A range bound in id space: items `id < bound` lie below it (bytewise order, so a short
 * prefix bound splits between neighbours). `null` is +∞; the empty array is the minimum.
 */
export type Bound = Uint8Array | null

/**
 * Fingerprint of a multiset of ids given its sum (ids read as 256-bit little-endian integers,
 * added mod 2^256) and count: the first 16 bytes of SHA-256(sum ‖ varint count).
 * Adding ids (a commutative group) is what makes the fingerprint of any index range an O(1)
 * difference of two prefix sums; hashing the sum with the count hides the linear structure
 * from accidental collisions (as Negentropy does). It is not a defence against a party that
 * chooses ids to collide sums on purpose — ids here are content hashes.
 */
function fingerprintOf(sum: Uint32Array, count: number): Uint8Array {
  const buf = Buffer.allocUnsafe(ID_BYTES + 9)
  for (let l = 0; l < LIMBS; l++) buf.writeUInt32LE(sum[l] as number, l * 4)
  let pos = ID_BYTES
  let c = count
  while (c >= 0x80) {
    buf[pos++] = (c % 0x80) | 0x80
    c = Math.floor(c / 0x80)
  }
  buf[pos++] = c
  return new Uint8Array(createHash('sha256').update(buf.subarray(0, pos)).digest().subarray(0, FINGERPRINT_BYTES))
}

/** Fingerprint of the empty range; a peer sending it holds nothing there. */
export const EMPTY_FINGERPRINT: Uint8Array = fingerprintOf(new Uint32Array(LIMBS), 0)

/**
 * An immutable, sorted view of a {@link PinSet}: ids (32 bytes each, flat), the CIDs they came
 * from (flat, with end offsets) and prefix sums of the ids (8 × uint32 limbs per entry), so the
 * fingerprint of any index range costs two binary searches, one subtraction and one SHA-256.
 * About 104 bytes per item (32 id + 32 sum + ~36 CID + 4 offset); no per-item objects.
 */
export class PinSnapshot {
  readonly size: number
  readonly ids: Uint8Array
  readonly sums: Uint32Array
  readonly cidData: Uint8Array
  readonly cidEnds: Uint32Array

  /** @internal Built by {@link PinSet}; arguments must already be sorted and deduplicated. */
  constructor(size: number, ids: Uint8Array, sums: Uint32Array, cidData: Uint8Array, cidEnds: Uint32Array) {
    this.size = size
    this.ids = ids
    this.sums = sums
    this.cidData = cidData
    this.cidEnds = cidEnds
  }

  /** The id at index `i` (a view, do not modify). */
  id(i: number): Uint8Array {
    return this.ids.subarray(i * ID_BYTES, (i + 1) * ID_BYTES)
  }

  /** The CID bytes at index `i` (a view, do not modify). */
  cid(i: number): Uint8Array {
    return this.cidData.subarray(i === 0 ? 0 : (this.cidEnds[i - 1] as number), this.cidEnds[i] as number)
  }

  /** Compares the id at index `i` with `bytes` (an id or a bound prefix): <0, 0 or >0. */
  compareAt(i: number, bytes: Uint8Array): number {
    const ids = this.ids
    const o = i * ID_BYTES
    const n = Math.min(ID_BYTES, bytes.byteLength)
    for (let k = 0; k < n; k++) {
      const d = (ids[o + k] as number) - (bytes[k] as number)
      if (d !== 0) return d
    }
    return ID_BYTES - bytes.byteLength
  }

  /** Index of the first id ≥ `bound` within [from, to) (`to` for +∞ or when none is). */
  lowerBound(bound: Bound, from = 0, to = this.size): number {
    if (bound === null) return to
    if (bound.byteLength === 0) return from
    let lo = from
    let hi = to
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.compareAt(mid, bound) < 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Index of `id`, or -1. */
  indexOf(id: Uint8Array): number {
    const i = this.lowerBound(id)
    return i < this.size && this.compareAt(i, id) === 0 ? i : -1
  }

  /** Fingerprint of the ids at indices [i, j). */
  fingerprint(i: number, j: number): Uint8Array {
    if (i >= j) return EMPTY_FINGERPRINT
    const sums = this.sums
    const diff = new Uint32Array(LIMBS)
    let borrow = 0
    for (let l = 0; l < LIMBS; l++) {
      let d = (sums[j * LIMBS + l] as number) - (sums[i * LIMBS + l] as number) - borrow
      borrow = d < 0 ? 1 : 0
      if (d < 0) d += 0x100000000
      diff[l] = d
    }
    return fingerprintOf(diff, j - i)
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/** The ids as little-endian uint32 words (a view on little-endian hosts, else a converted copy). */
function idWords(ids: Uint8Array): Uint32Array {
  if (LITTLE_ENDIAN && ids.byteOffset % 4 === 0) return new Uint32Array(ids.buffer, ids.byteOffset, ids.byteLength / 4)
  const words = new Uint32Array(ids.byteLength / 4)
  for (let w = 0; w < words.length; w++) {
    const o = w * 4
    words[w] = ((ids[o] as number) | ((ids[o + 1] as number) << 8) | ((ids[o + 2] as number) << 16)) + (ids[o + 3] as number) * 0x1000000
  }
  return words
}

/** Prefix sums over ids[from..n), continuing from sums already correct up to entry `from`. */
function fillSums(ids: Uint8Array, n: number, sums: Uint32Array, from: number): void {
  const words = idWords(ids)
  let a0 = sums[from * LIMBS] as number
  let a1 = sums[from * LIMBS + 1] as number
  let a2 = sums[from * LIMBS + 2] as number
  let a3 = sums[from * LIMBS + 3] as number
  let a4 = sums[from * LIMBS + 4] as number
  let a5 = sums[from * LIMBS + 5] as number
  let a6 = sums[from * LIMBS + 6] as number
  let a7 = sums[from * LIMBS + 7] as number
  const TWO32 = 0x100000000
  for (let i = from; i < n; i++) {
    const w = i * LIMBS
    // carry-propagating 256-bit add in eight 32-bit limbs (doubles hold the 33-bit partials exactly)
    let s = a0 + (words[w] as number)
    a0 = s % TWO32
    s = a1 + (words[w + 1] as number) + (s >= TWO32 ? 1 : 0)
    a1 = s % TWO32
    s = a2 + (words[w + 2] as number) + (s >= TWO32 ? 1 : 0)
    a2 = s % TWO32
    s = a3 + (words[w + 3] as number) + (s >= TWO32 ? 1 : 0)
    a3 = s % TWO32
    s = a4 + (words[w + 4] as number) + (s >= TWO32 ? 1 : 0)
    a4 = s % TWO32
    s = a5 + (words[w + 5] as number) + (s >= TWO32 ? 1 : 0)
    a5 = s % TWO32
    s = a6 + (words[w + 6] as number) + (s >= TWO32 ? 1 : 0)
    a6 = s % TWO32
    s = a7 + (words[w + 7] as number) + (s >= TWO32 ? 1 : 0)
    a7 = s % TWO32
    const o = w + LIMBS
    sums[o] = a0
    sums[o + 1] = a1
    sums[o + 2] = a2
    sums[o + 3] = a3
    sums[o + 4] = a4
    sums[o + 5] = a5
    sums[o + 6] = a6
    sums[o + 7] = a7
  }
}

/**
 * Sort order of `n` flat ids. Packs the leading bits of each id with its index into one
 * float64 (exact below 2^53) so the sort is a native numeric typed-array sort; runs that
 * tie on those bits (rare: ~n²/2^(54 − log2 n)) are then sorted by full comparison.
 */
function sortOrder(ids: Uint8Array, n: number): Uint32Array {
  const idxBits = Math.min(32, Math.max(1, Math.ceil(Math.log2(n + 1))))
  const p = 53 - idxBits
  const scale = 2 ** idxBits
  const keys = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const o = i * ID_BYTES
    const top =
      (((ids[o] as number) << 24) | ((ids[o + 1] as number) << 16) | ((ids[o + 2] as number) << 8) | (ids[o + 3] as number)) >>> 0
    let prefix: number
    if (p <= 32) prefix = Math.floor(top / 2 ** (32 - p))
    else {
      const next = ((ids[o + 4] as number) << 16) | ((ids[o + 5] as number) << 8) | (ids[o + 6] as number)
      prefix = top * 2 ** (p - 32) + Math.floor(next / 2 ** (24 - (p - 32)))
    }
    keys[i] = prefix * scale + i
  }
  keys.sort()
  const order = new Uint32Array(n)
  for (let k = 0; k < n; k++) order[k] = (keys[k] as number) % scale
  const view = (i: number) => ids.subarray(i * ID_BYTES, (i + 1) * ID_BYTES)
  let start = 0
  for (let k = 1; k <= n; k++) {
    if (k < n && Math.floor((keys[k] as number) / scale) === Math.floor((keys[start] as number) / scale)) continue
    if (k - start > 1) {
      const run = Array.from(order.subarray(start, k)).sort((a, b) => compareBytes(view(a), view(b)) || a - b)
      order.set(run, start)
    }
    start = k
  }
  return order
}

function grow<T extends Uint8Array | Uint32Array>(array: T, length: number): T {
  const grown = new (array.constructor as new (n: number) => T)(length)
  grown.set(array)
  return grown
}

function invalidCid(cid: Uint8Array): InvalidCidError {
  return new InvalidCidError(Buffer.from(cid.subarray(0, 48)).toString('hex'))
}

const EMPTY_SNAPSHOT = new PinSnapshot(0, new Uint8Array(0), new Uint32Array(LIMBS), new Uint8Array(0), new Uint32Array(0))

/**
 * The set of pins a node holds or should hold, keyed by pin id (see {@link tryPinId}),
 * keeping each id's CID bytes (the first CID added for it).
 *
 * Layout (measured, bench/reconcile.ts): a sorted flat array with prefix sums answers every
 * range fingerprint in O(log n) with no per-item objects (~104 bytes per pin); building 1M
 * pins takes ~1–3 s on a shared 2-core VM (the sort's gather is cache-miss bound). Mutations are O(1) (maps of
 * pending adds and deletes; {@link has} needs no fold); the next read that needs order
 * ({@link snapshot}, {@link fingerprint}, {@link cids}) folds them into a new sorted snapshot in
 * one O(n) merge (0.2–0.7 s at 1M pins on that VM, however few changed), so batches of changes between
 * reconciliations are cheap and interleaving single changes with fingerprint reads is not.
 * A balanced tree of partial sums would make single changes O(log n) at several times the
 * memory; anti-entropy reads once per session, so the flat layout wins here. Snapshots are
 * immutable: a reconciliation session keeps a consistent view while pins keep arriving.
 */
export class PinSet {
  #snap: PinSnapshot
  readonly #adds = new Map<string, { id: Uint8Array; cid: Uint8Array }>()
  readonly #deletes = new Map<string, Uint8Array>()

  private constructor(snap: PinSnapshot) {
    this.#snap = snap
  }

  /** An empty set. */
  static empty(): PinSet {
    return new PinSet(EMPTY_SNAPSHOT)
  }

  /** Builds a set from binary CIDs (duplicates by pin id collapse). O(n log n) with a native sort. */
  static from(cids: Iterable<Uint8Array>): PinSet {
    const list: Uint8Array[] = []
    let ids = new Uint8Array(ID_BYTES * 1024)
    let n = 0
    let total = 0
    for (const cid of cids) {
      if ((n + 1) * ID_BYTES > ids.byteLength) ids = grow(ids, ids.byteLength * 2)
      if (!writePinId(cid, ids, n * ID_BYTES)) throw invalidCid(cid)
      list.push(cid)
      total += cid.byteLength
      n++
    }
    const order = sortOrder(ids, n)
    const sorted = new Uint8Array(n * ID_BYTES)
    const cidData = new Uint8Array(total)
    const cidEnds = new Uint32Array(n)
    let m = 0
    let off = 0
    for (let k = 0; k < n; k++) {
      const i = order[k] as number
      const src = i * ID_BYTES
      const dst = m * ID_BYTES
      if (m > 0) {
        let b = 0
        while (b < ID_BYTES && ids[src + b] === sorted[dst - ID_BYTES + b]) b++
        if (b === ID_BYTES) continue // duplicate pin id: keep the first CID
      }
      for (let b = 0; b < ID_BYTES; b++) sorted[dst + b] = ids[src + b] as number
      const cid = list[i] as Uint8Array
      cidData.set(cid, off)
      off += cid.byteLength
      cidEnds[m++] = off
    }
    const finalIds = m === n ? sorted : sorted.slice(0, m * ID_BYTES)
    const sums = new Uint32Array((m + 1) * LIMBS)
    fillSums(finalIds, m, sums, 0)
    return new PinSet(
      new PinSnapshot(m, finalIds, sums, m === n ? cidData : cidData.slice(0, off), m === n ? cidEnds : cidEnds.slice(0, m)),
    )
  }

  /** Number of pins. */
  get size(): number {
    return this.#snap.size - this.#deletes.size + this.#adds.size
  }

  /** Adds a binary CID; returns false when its pin id was already present. Throws ERR_INVALID_CID. */
  add(cid: Uint8Array): boolean {
    const id = tryPinId(cid)
    if (id === undefined) throw invalidCid(cid)
    const key = idKey(id)
    if (this.#deletes.delete(key)) return true
    if (this.#adds.has(key) || this.#snap.indexOf(id) >= 0) return false
    this.#adds.set(key, { id: id.slice(), cid: cid.slice() })
    return true
  }

  /** Removes the pin with this CID's pin id; returns false when absent. Throws ERR_INVALID_CID. */
  delete(cid: Uint8Array): boolean {
    const id = tryPinId(cid)
    if (id === undefined) throw invalidCid(cid)
    const key = idKey(id)
    if (this.#adds.delete(key)) return true
    if (this.#deletes.has(key) || this.#snap.indexOf(id) < 0) return false
    this.#deletes.set(key, id.slice())
    return true
  }

  /** True when a pin with this CID's pin id is present. Throws ERR_INVALID_CID. */
  has(cid: Uint8Array): boolean {
    const id = tryPinId(cid)
    if (id === undefined) throw invalidCid(cid)
    const key = idKey(id)
    if (this.#adds.has(key)) return true
    return !this.#deletes.has(key) && this.#snap.indexOf(id) >= 0
  }

  /** Fingerprint of the pins with lower ≤ id < upper (default: all). */
  fingerprint(range: { lower?: Uint8Array; upper?: Uint8Array } = {}): Uint8Array {
    const snap = this.snapshot()
    const i = snap.lowerBound(range.lower ?? new Uint8Array(0))
    const j = snap.lowerBound(range.upper ?? null)
    return snap.fingerprint(i, Math.max(i, j))
  }

  /** CID bytes of every pin, in id order. */
  *cids(): IterableIterator<Uint8Array> {
    const snap = this.snapshot()
    for (let i = 0; i < snap.size; i++) yield snap.cid(i)
  }

  /** The current contents as an immutable sorted snapshot (folds pending changes in). */
  snapshot(): PinSnapshot {
    if (this.#adds.size === 0 && this.#deletes.size === 0) return this.#snap
    this.#snap = merge(this.#snap, [...this.#adds.values()], [...this.#deletes.values()])
    this.#adds.clear()
    this.#deletes.clear()
    return this.#snap
  }
}

/** New snapshot = old − deletes (all present) + adds (all absent), copying unchanged runs whole. */
function merge(old: PinSnapshot, adds: { id: Uint8Array; cid: Uint8Array }[], deletes: Uint8Array[]): PinSnapshot {
  adds.sort((a, b) => compareBytes(a.id, b.id))
  const addAt = adds.map((a) => old.lowerBound(a.id))
  const delAt = deletes.map((id) => old.indexOf(id)).sort((a, b) => a - b)
  const n = old.size + adds.length - deletes.length
  let addedCidBytes = 0
  for (const a of adds) addedCidBytes += a.cid.byteLength
  let removedCidBytes = 0
  for (const i of delAt) removedCidBytes += old.cid(i).byteLength
  const ids = new Uint8Array(n * ID_BYTES)
  const cidData = new Uint8Array(old.cidData.byteLength + addedCidBytes - removedCidBytes)
  const cidEnds = new Uint32Array(n)
  let out = 0
  let cidOff = 0
  let i = 0
  let a = 0
  let d = 0
  const firstChange = Math.min(addAt[0] ?? old.size, delAt[0] ?? old.size)
  const copyRun = (to: number) => {
    if (to <= i) return
    ids.set(old.ids.subarray(i * ID_BYTES, to * ID_BYTES), out * ID_BYTES)
    const start = i === 0 ? 0 : (old.cidEnds[i - 1] as number)
    const end = old.cidEnds[to - 1] as number
    cidData.set(old.cidData.subarray(start, end), cidOff)
    for (let k = i; k < to; k++) cidEnds[out + k - i] = (old.cidEnds[k] as number) - start + cidOff
    cidOff += end - start
    out += to - i
    i = to
  }
  while (i < old.size || a < adds.length) {
    const nextAdd = addAt[a] ?? Number.POSITIVE_INFINITY
    const nextDel = delAt[d] ?? Number.POSITIVE_INFINITY
    copyRun(Math.min(nextAdd, nextDel, old.size))
    if (nextAdd === i) {
      const item = adds[a++] as { id: Uint8Array; cid: Uint8Array }
      ids.set(item.id, out * ID_BYTES)
      cidData.set(item.cid, cidOff)
      cidOff += item.cid.byteLength
      cidEnds[out++] = cidOff
    } else if (nextDel === i) {
      d++
      i++
    }
  }
  const sums = new Uint32Array((n + 1) * LIMBS)
  const keep = Math.min(firstChange, n)
  sums.set(old.sums.subarray(0, (keep + 1) * LIMBS))
  fillSums(ids, n, sums, keep)
  return new PinSnapshot(n, ids, sums, cidData, cidEnds)
}
