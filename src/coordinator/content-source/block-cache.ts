/**
 * Verified blocks fetched from storage nodes, least recently used evicted first, bounded by
 * total bytes. Keys are multihash strings (CIDv0 and v1 of one block share an entry). Not
 * shared between processes; single-threaded use only (the event loop's).
 */
export class BlockCache {
  readonly #maxBytes: number
  readonly #entries = new Map<string, Uint8Array>()
  #bytes = 0

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes
  }

  get(key: string): Uint8Array | undefined {
    const bytes = this.#entries.get(key)
    if (bytes === undefined) return undefined
    // a hit moves to the young end
    this.#entries.delete(key)
    this.#entries.set(key, bytes)
    return bytes
  }

  has(key: string): boolean {
    return this.#entries.has(key)
  }

  set(key: string, bytes: Uint8Array): void {
    if (bytes.byteLength > this.#maxBytes) return
    const old = this.#entries.get(key)
    if (old !== undefined) {
      this.#bytes -= old.byteLength
      this.#entries.delete(key)
    }
    this.#entries.set(key, bytes)
    this.#bytes += bytes.byteLength
    for (const [oldest, value] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break
      this.#entries.delete(oldest)
      this.#bytes -= value.byteLength
    }
  }
}

/** A `Map` that forgets its oldest keys beyond `maxEntries` (insertion order). */
export class BoundedMap<K, V> extends Map<K, V> {
  readonly #maxEntries: number

  constructor(maxEntries: number) {
    super()
    this.#maxEntries = maxEntries
  }

  override set(key: K, value: V): this {
    super.delete(key)
    super.set(key, value)
    if (this.size > this.#maxEntries) {
      const oldest = this.keys().next()
      if (!oldest.done) super.delete(oldest.value)
    }
    return this
  }
}
