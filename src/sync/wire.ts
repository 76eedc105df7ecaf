import { FINGERPRINT_BYTES } from './pin-set.ts'
import type { Bound } from './pin-set.ts'
import { ID_BYTES, InvalidSyncMessageError, readVarint } from './pin-id.ts'

/** First byte of a message from the initiator (the node, holding) to the responder. */
export const TO_RESPONDER = 0xa1
/** First byte of a message from the responder (the coordinator, desired set) to the initiator. */
export const TO_INITIATOR = 0xa2

/** What a range of a message carries. */
export const Mode = {
  /** Nothing: the range is reconciled (or not the subject of this message). */
  Skip: 0,
  /** 16-byte fingerprint of the sender's ids in the range. */
  Fingerprint: 1,
  /** Initiator → responder: the initiator's ids in the range (count, 32 bytes each). */
  IdList: 2,
  /** Responder → initiator: the responder's CIDs in the range (count, then length-prefixed CIDs). */
  ItemList: 3,
  /** Responder → initiator: CIDs the initiator lacks, then ids of the initiator's it does not want. */
  Diff: 4,
} as const
export type Mode = (typeof Mode)[keyof typeof Mode]

/** Encoded size of an unsigned varint. */
export function varintSize(n: number): number {
  let size = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    size++
  }
  return size
}

/** Encoded size of a bound (length varint + bytes; +∞ is a single 0). */
export function boundSize(bound: Bound): number {
  return bound === null ? 1 : 1 + bound.byteLength
}

/** A growable output buffer. */
export class Writer {
  #buf = new Uint8Array(1024)
  length = 0

  #room(n: number): void {
    if (this.length + n <= this.#buf.byteLength) return
    let size = this.#buf.byteLength * 2
    while (size < this.length + n) size *= 2
    const grown = new Uint8Array(size)
    grown.set(this.#buf.subarray(0, this.length))
    this.#buf = grown
  }

  byte(b: number): void {
    this.#room(1)
    this.#buf[this.length++] = b
  }

  varint(n: number): void {
    this.#room(9)
    while (n >= 0x80) {
      this.#buf[this.length++] = (n % 0x80) | 0x80
      n = Math.floor(n / 0x80)
    }
    this.#buf[this.length++] = n
  }

  bytes(b: Uint8Array): void {
    this.#room(b.byteLength)
    this.#buf.set(b, this.length)
    this.length += b.byteLength
  }

  bound(bound: Bound): void {
    if (bound === null) this.byte(0)
    else {
      this.byte(bound.byteLength)
      this.bytes(bound)
    }
  }

  /** The bytes written so far (a copy, sized exactly). */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.length)
  }
}

/** A strict cursor over an incoming message: every read is bounds-checked. */
export class Reader {
  readonly #bytes: Uint8Array
  pos = 0

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes
  }

  get remaining(): number {
    return this.#bytes.byteLength - this.pos
  }

  byte(what: string): number {
    const b = this.#bytes[this.pos]
    if (b === undefined) throw new InvalidSyncMessageError(`truncated ${what}`)
    this.pos++
    return b
  }

  varint(what: string): number {
    const r = readVarint(this.#bytes, this.pos)
    if (r === undefined) throw new InvalidSyncMessageError(`truncated or overlong ${what}`)
    this.pos = r.end
    return r.value
  }

  /** A count whose items take at least `minItemBytes` each: refused before anything is allocated. */
  count(minItemBytes: number, what: string): number {
    const n = this.varint(`${what} count`)
    if (n * minItemBytes > this.remaining) throw new InvalidSyncMessageError(`${what} count ${n} exceeds the message`)
    return n
  }

  take(n: number, what: string): Uint8Array {
    if (n > this.remaining) throw new InvalidSyncMessageError(`truncated ${what}`)
    const out = this.#bytes.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  bound(): Bound {
    const len = this.byte('bound')
    if (len === 0) return null
    if (len > ID_BYTES) throw new InvalidSyncMessageError(`bound of ${len} bytes (max ${ID_BYTES})`)
    return this.take(len, 'bound')
  }

  fingerprint(): Uint8Array {
    return this.take(FINGERPRINT_BYTES, 'fingerprint')
  }
}
