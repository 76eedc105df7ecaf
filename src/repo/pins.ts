import { CID } from 'multiformats/cid'
import { type AbortOptions, blockLinks, isIdentityCid, PinfoldError } from '../core/index.ts'
import { DagIncompleteError } from './errors.ts'
import type { FsBlockstore } from './fs-blockstore.ts'
import type { PinRow, RepoIndex } from './repo-index.ts'
import type { RwLock } from './rw-lock.ts'

/** A pin: keeps a block (direct) or a whole DAG (recursive) from GC. */
export interface Pin {
  /** The CID as first pinned (a later pin of another CID version with the same multihash is the same pin). */
  cid: CID
  recursive: boolean
  name?: string
  created: Date
}

export interface PinAddOptions extends AbortOptions {
  /** Pin the whole DAG (default) or only the root block. */
  recursive?: boolean
  name?: string
}

export interface PinLsOptions extends AbortOptions {
  recursive?: boolean
  name?: string
}

/** The pin set of a repo. Pins are keyed by multihash. */
export interface Pins {
  /**
   * Pins `cid`. First flushes the blockstore, then checks in the index (links table, no block
   * reads) that every block of the DAG (or the root alone for a direct pin) is present;
   * otherwise rejects with `ERR_DAG_INCOMPLETE` naming the first missing CID. So a pin never
   * refers to an incomplete DAG. Holds the repo's add lock shared, so GC cannot run between the
   * check and the insert. Idempotent: pinning again keeps `created`, upgrades direct →
   * recursive and replaces the name when one is given. Pins added in the same turn of the
   * event loop are committed together (one transaction); each resolves once durable.
   */
  add(cid: CID, options?: PinAddOptions): Promise<Pin>
  /** Removes the pin; true if it existed. Blocks stay until GC. Idempotent. */
  rm(cid: CID, options?: AbortOptions): Promise<boolean>
  /** Every pin, in multihash order, optionally filtered. Reads in pages, so safe to interleave with changes. */
  ls(options?: PinLsOptions): AsyncGenerator<Pin>
  /** The pin with `cid`'s multihash, if any. */
  get(cid: CID, options?: AbortOptions): Promise<Pin | undefined>
}

export function toPin(row: PinRow): Pin {
  const pin: Pin = { cid: CID.decode(row.cid), recursive: row.recursive, created: new Date(row.created) }
  if (row.name !== undefined) pin.name = row.name
  return pin
}

type NewPin = { mh: Uint8Array; cid: Uint8Array; recursive: boolean; name?: string; created: number }

/**
 * Group commit of pin rows: pins queued in the same turn of the event loop are written in one
 * SQLite transaction (one fsync) on the next, each caller resolving once it is durable (or
 * rejecting with the transaction's error). Many DAGs finishing together cost one commit.
 */
function pinWriter(index: RepoIndex): (pin: NewPin) => Promise<void> {
  let queue: Array<{ pin: NewPin; resolve: () => void; reject: (err: unknown) => void }> = []
  const commit = () => {
    const group = queue
    queue = []
    try {
      index.upsertPins(group.map((q) => q.pin))
    } catch (err) {
      for (const q of group) q.reject(err)
      return
    }
    for (const q of group) q.resolve()
  }
  return (pin) =>
    new Promise<void>((resolve, reject) => {
      if (queue.length === 0) setImmediate(commit)
      queue.push({ pin, resolve, reject })
    })
}

export function createPins(index: RepoIndex, blocks: FsBlockstore, lock: RwLock): Pins {
  const writePin = pinWriter(index)
  return {
    async add(cid, options = {}) {
      const recursive = options.recursive ?? true
      return lock.shared(async () => {
        options.signal?.throwIfAborted()
        await blocks.flush(options)
        const mh = cid.multihash.bytes
        if (isIdentityCid(cid)) {
          if (blockLinks(cid, cid.multihash.digest).length > 0) {
            throw new PinfoldError('ERR_UNSUPPORTED_PIN', `cannot pin identity CID with links: ${cid}`, {
              userError: true,
            })
          }
        } else {
          const missing = index.firstMissing(mh, cid.bytes, recursive)
          if (missing !== undefined) throw new DagIncompleteError(cid, CID.decode(missing))
        }
        const pin: NewPin = { mh, cid: cid.bytes, recursive, created: Date.now() }
        if (options.name !== undefined) pin.name = options.name
        // still under the shared lock: GC cannot run between the check above and this commit
        await writePin(pin)
        const row = index.getPin(mh)
        if (row === undefined) throw new Error('pin vanished after insert')
        return toPin(row)
      })
    },
    async rm(cid, options) {
      options?.signal?.throwIfAborted()
      return index.deletePin(cid.multihash.bytes)
    },
    async *ls(options = {}) {
      for (const row of index.pins()) {
        options.signal?.throwIfAborted()
        if (options.recursive !== undefined && row.recursive !== options.recursive) continue
        if (options.name !== undefined && row.name !== options.name) continue
        yield toPin(row)
      }
    },
    async get(cid, options) {
      options?.signal?.throwIfAborted()
      const row = index.getPin(cid.multihash.bytes)
      return row === undefined ? undefined : toPin(row)
    },
  }
}
