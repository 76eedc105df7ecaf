import { InvalidCarError } from './errors.ts'

/**
 * A pull reader over a byte stream that never allocates more than the caller allowed:
 * every length is checked against a limit before any buffer of that size is created,
 * and at most one pending input chunk is held beyond what was asked for.
 * Not safe for concurrent calls (one consumer reads sequentially).
 */
export class BoundedByteReader {
  readonly #source: AsyncIterator<Uint8Array>
  #chunk: Uint8Array = new Uint8Array(0)
  #done = false
  /** Bytes consumed so far. */
  position = 0
  /** Absolute position past which the stream counts as ended (CARv2 data size), or Infinity. */
  end = Number.POSITIVE_INFINITY

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#source = source[Symbol.asyncIterator]()
  }

  /** True when no byte remains (before `end`). */
  async atEnd(): Promise<boolean> {
    if (this.position >= this.end) return true
    return !(await this.#ensureChunk())
  }

  /**
   * Reads an unsigned LEB128 varint and refuses it when above `limit`, so the caller
   * can allocate the value safely. `what` names the length in the error message.
   */
  async readVarint(limit: number, what: string): Promise<number> {
    let value = 0
    for (let i = 0; i < 9; i++) {
      const byte = await this.#readByte(what)
      value += (byte & 0x7f) * 2 ** (7 * i)
      if (value > limit) throw new InvalidCarError(`${what} length ${value} exceeds limit ${limit}`)
      if ((byte & 0x80) === 0) return value
    }
    throw new InvalidCarError(`${what} length varint is too long`)
  }

  /** Reads exactly `n` bytes (n already bounded by the caller) or throws truncated. */
  async readExact(n: number, what: string): Promise<Uint8Array> {
    if (this.position + n > this.end) throw new InvalidCarError(`${what} runs past the end of the data section`)
    if (!(await this.#ensureChunk()) && n > 0) throw truncated(what)
    if (this.#chunk.byteLength >= n) return this.#take(n) // zero-copy fast path
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      if (!(await this.#ensureChunk())) throw truncated(what)
      const part = this.#take(Math.min(n - filled, this.#chunk.byteLength))
      out.set(part, filled)
      filled += part.byteLength
    }
    return out
  }

  /** Discards `n` bytes without buffering them. */
  async skip(n: number, what: string): Promise<void> {
    let left = n
    while (left > 0) {
      if (!(await this.#ensureChunk())) throw truncated(what)
      left -= this.#take(Math.min(left, this.#chunk.byteLength)).byteLength
    }
  }

  async #readByte(what: string): Promise<number> {
    if (this.position >= this.end || !(await this.#ensureChunk())) throw truncated(what)
    return this.#take(1)[0] as number
  }

  #take(n: number): Uint8Array {
    const part = this.#chunk.subarray(0, n)
    this.#chunk = this.#chunk.subarray(n)
    this.position += n
    return part
  }

  /** Makes the current chunk non-empty; false at end of input. */
  async #ensureChunk(): Promise<boolean> {
    while (this.#chunk.byteLength === 0) {
      if (this.#done) return false
      const next = await this.#source.next()
      if (next.done === true) {
        this.#done = true
        return false
      }
      if (!(next.value instanceof Uint8Array)) throw new InvalidCarError('input chunk is not bytes')
      this.#chunk = next.value
    }
    return true
  }

  /** Stops the underlying iterator early (e.g. after an error). */
  async close(): Promise<void> {
    await this.#source.return?.()
  }
}

function truncated(what: string): InvalidCarError {
  return new InvalidCarError(`truncated while reading ${what}`)
}
