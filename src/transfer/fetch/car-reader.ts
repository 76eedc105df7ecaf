import { bytesReader, readHeader } from '@ipld/car/decoder'
import { varint } from 'multiformats'
import { CID } from 'multiformats/cid'
import { InvalidCarError } from '../../core/index.ts'

/** Room for the CID in front of a block's bytes (a CID with a 64-byte digest is < 80 bytes). */
const CID_OVERHEAD = 256

/**
 * Reads a CARv1 stream block by block with bounded memory: every section length is
 * checked against its limit before anything of that size is allocated, and at most one
 * input chunk is held beyond the current section. One consumer at a time.
 */
export class CarBlockReader {
  readonly #source: AsyncIterator<Uint8Array>
  readonly #maxBlockBytes: number
  readonly #maxHeaderBytes: number
  #chunk: Uint8Array = new Uint8Array(0)
  #done = false

  constructor(source: AsyncIterable<Uint8Array>, limits: { maxBlockBytes: number; maxHeaderBytes: number }) {
    this.#source = source[Symbol.asyncIterator]()
    this.#maxBlockBytes = limits.maxBlockBytes
    this.#maxHeaderBytes = limits.maxHeaderBytes
  }

  /** Reads and validates the CARv1 header; returns its roots. CARv2 is refused. */
  async readHeader(): Promise<CID[]> {
    const header = await this.#readSection(this.#maxHeaderBytes, 'header')
    const framed = new Uint8Array(varint.encodingLength(header.byteLength) + header.byteLength)
    varint.encodeTo(header.byteLength, framed, 0)
    framed.set(header, framed.byteLength - header.byteLength)
    try {
      return (await readHeader(bytesReader(framed), 1)).roots
    } catch (err) {
      throw new InvalidCarError(`bad CARv1 header${err instanceof Error ? `: ${err.message}` : ''}`, err)
    }
  }

  /** The next block, or `undefined` at a clean end of stream. */
  async next(): Promise<{ cid: CID; bytes: Uint8Array } | undefined> {
    if (!(await this.#ensureChunk())) return undefined
    const section = await this.#readSection(this.#maxBlockBytes + CID_OVERHEAD, 'block')
    try {
      const [cid, bytes] = CID.decodeFirst(section)
      if (bytes.byteLength > this.#maxBlockBytes) {
        throw new InvalidCarError(`block ${cid} of ${bytes.byteLength} bytes exceeds limit ${this.#maxBlockBytes}`)
      }
      return { cid, bytes }
    } catch (err) {
      if (err instanceof InvalidCarError) throw err
      throw new InvalidCarError('block section does not start with a valid CID', err)
    }
  }

  /** Stops the underlying source early. */
  async close(): Promise<void> {
    await this.#source.return?.()
  }

  async #readSection(limit: number, what: string): Promise<Uint8Array> {
    const length = await this.#readVarint(limit, what)
    if (length === 0) throw new InvalidCarError(`${what} has zero length`)
    return this.#readExact(length, what)
  }

  async #readVarint(limit: number, what: string): Promise<number> {
    let value = 0
    for (let i = 0; i < 9; i++) {
      if (!(await this.#ensureChunk())) throw truncated(what)
      const byte = this.#take(1)[0] as number
      value += (byte & 0x7f) * 2 ** (7 * i)
      if (value > limit) throw new InvalidCarError(`${what} length ${value} exceeds limit ${limit}`)
      if ((byte & 0x80) === 0) return value
    }
    throw new InvalidCarError(`${what} length varint is too long`)
  }

  async #readExact(n: number, what: string): Promise<Uint8Array> {
    if (!(await this.#ensureChunk())) throw truncated(what)
    if (this.#chunk.byteLength >= n) return this.#take(n)
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

  #take(n: number): Uint8Array {
    const part = this.#chunk.subarray(0, n)
    this.#chunk = this.#chunk.subarray(n)
    return part
  }

  async #ensureChunk(): Promise<boolean> {
    while (this.#chunk.byteLength === 0) {
      if (this.#done) return false
      const next = await this.#source.next()
      if (next.done === true) {
        this.#done = true
        return false
      }
      this.#chunk = next.value
    }
    return true
  }
}

function truncated(what: string): InvalidCarError {
  return new InvalidCarError(`truncated while reading ${what}`)
}
