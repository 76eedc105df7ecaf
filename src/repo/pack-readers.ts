import { type FileHandle, open } from 'node:fs/promises'
import { readAt } from './write-batch.ts'

interface Entry {
  handle: Promise<FileHandle>
  /** Reads in progress on the handle. */
  users: number
  /** Out of the cache: closed once `users` drops to 0. */
  evicted: boolean
}

/**
 * Read handles of pack files kept open between block reads (opening and closing a pack per
 * block cost more than reading the block), at most `max` of them, least recently used closed
 * first. A handle is closed only once its reads have finished. Callers deleting a pack call
 * `forget` so its space is released; a failed open is not cached (the next read tries again).
 */
export class PackReaders {
  readonly #max: number
  /** Map order is recency: first = least recently used. */
  readonly #open = new Map<string, Entry>()
  #closed = false

  constructor(max = 32) {
    this.#max = Math.max(1, max)
  }

  /** Reads up to `size` bytes at `off` of `file` (fewer if it is shorter); ENOENT if it is gone. */
  async read(file: string, off: number, size: number): Promise<Uint8Array> {
    const entry = this.#acquire(file)
    try {
      return await readAt(await entry.handle, off, size)
    } finally {
      entry.users--
      if (entry.evicted && entry.users === 0) closeEntry(entry)
    }
  }

  /** Closes `file`'s handle once its reads are done (the file is being deleted). */
  forget(file: string): void {
    const entry = this.#open.get(file)
    if (entry === undefined) return
    this.#open.delete(file)
    this.#evict(entry)
  }

  /** Closes every handle (as their reads finish); later reads open and close their file. */
  close(): void {
    this.#closed = true
    for (const file of [...this.#open.keys()]) this.forget(file)
  }

  #acquire(file: string): Entry {
    let entry = this.#open.get(file)
    if (entry !== undefined) {
      this.#open.delete(file)
      this.#open.set(file, entry)
    } else {
      const created: Entry = { handle: open(file, 'r'), users: 0, evicted: this.#closed }
      created.handle.catch(() => {
        if (this.#open.get(file) === created) this.#open.delete(file)
      })
      entry = created
      if (!this.#closed) {
        this.#open.set(file, created)
        for (const [oldest, old] of this.#open) {
          if (this.#open.size <= this.#max) break
          this.#open.delete(oldest)
          this.#evict(old)
        }
      }
    }
    entry.users++
    return entry
  }

  #evict(entry: Entry): void {
    entry.evicted = true
    if (entry.users === 0) closeEntry(entry)
  }
}

function closeEntry(entry: Entry): void {
  entry.handle.then((h) => h.close()).catch(() => {})
}

/** Opens `file`, reads up to `size` bytes at `off`, closes it. */
export async function readFileAt(file: string, off: number, size: number): Promise<Uint8Array> {
  const handle = await open(file, 'r')
  try {
    return await readAt(handle, off, size)
  } finally {
    await handle.close()
  }
}
