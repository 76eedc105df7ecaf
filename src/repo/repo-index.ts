import { DatabaseSync, type StatementSync } from 'node:sqlite'
import { PRAGMAS, SCHEMA, SCHEMA_VERSION, SQL } from './sql.ts'

/** A block row of the index. */
export interface BlockRow {
  mh: Uint8Array
  /** CID bytes as first stored. */
  cid: Uint8Array
  pathId: string
  size: number
}

/** A block about to be committed, with its children (identity children already left out). */
export interface NewBlockRow extends BlockRow {
  links: Array<{ mh: Uint8Array; cid: Uint8Array }>
}

export interface PinRow {
  mh: Uint8Array
  cid: Uint8Array
  recursive: boolean
  name: string | undefined
  created: number
}

type Statements = { -readonly [K in keyof typeof SQL]: StatementSync }

const PAGE = 1000

/**
 * The repo's SQLite index (`<repo>/index.sqlite`, WAL, synchronous=FULL): blocks, links,
 * pins and the rename journal.
 *
 * Every method is synchronous and runs in one SQLite statement or transaction, so from
 * JavaScript's point of view each one is atomic; concurrency control above this layer is the
 * repo's business. Only one process opens the index (see `repo-lock.ts`).
 */
export class RepoIndex {
  readonly #db: DatabaseSync
  readonly #s: Statements

  constructor(file: string) {
    this.#db = new DatabaseSync(file)
    this.#db.exec(PRAGMAS)
    this.#db.exec(SCHEMA)
    const s: Partial<Statements> = {}
    for (const [key, sql] of Object.entries(SQL)) s[key as keyof Statements] = this.#db.prepare(sql)
    this.#s = s as Statements
    if (this.#s.getMeta.get('schema') === undefined) this.#s.setMeta.run('schema', String(SCHEMA_VERSION))
  }

  /** Runs `fn` in one transaction (BEGIN IMMEDIATE … COMMIT; ROLLBACK on throw). */
  transaction<T>(fn: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE')
    try {
      const result = fn()
      this.#db.exec('COMMIT')
      return result
    } catch (err) {
      this.#db.exec('ROLLBACK')
      throw err
    }
  }

  hasBlock(mh: Uint8Array): boolean {
    return this.#s.hasBlock.get(mh) !== undefined
  }

  getBlock(mh: Uint8Array): BlockRow | undefined {
    const row = this.#s.getBlock.get(mh) as { cid: Uint8Array; pathId: string; size: number } | undefined
    return row === undefined ? undefined : { mh, cid: row.cid, pathId: row.pathId, size: Number(row.size) }
  }

  /** Records files about to be renamed into place (one transaction), before the rename. */
  journalFiles(files: Array<{ mh: Uint8Array; pathId: string }>): void {
    this.transaction(() => {
      for (const f of files) this.#s.insertPending.run(f.mh, f.pathId)
    })
  }

  /**
   * Commits block rows and their links and clears their journal entries, in ONE transaction.
   * Rows for blocks already indexed are left as they are (INSERT OR IGNORE).
   */
  commitBlocks(rows: NewBlockRow[]): void {
    this.transaction(() => {
      for (const row of rows) {
        this.#s.insertBlock.run(row.mh, row.cid, row.pathId, row.size)
        for (const link of row.links) this.#s.insertLink.run(row.mh, link.mh, link.cid)
        this.#s.deletePending.run(row.mh, row.pathId)
      }
    })
  }

  /** Journal entries with no matching block row: files that may exist on disk unindexed. */
  orphanFiles(): Array<{ mh: Uint8Array; pathId: string }> {
    return this.#s.orphanPending.all() as Array<{ mh: Uint8Array; pathId: string }>
  }

  clearJournal(): void {
    this.#s.clearPending.run()
  }

  /** Removes block rows and their outgoing links (one transaction). */
  deleteBlocks(mhs: Uint8Array[]): void {
    this.transaction(() => {
      for (const mh of mhs) {
        this.#s.deleteBlock.run(mh)
        this.#s.deleteLinks.run(mh)
      }
    })
  }

  /** All block rows in multihash order, paged so rows may be deleted while iterating. */
  *blocks(): Generator<BlockRow> {
    let after: Uint8Array = new Uint8Array(0)
    for (;;) {
      const page = this.#s.blockPage.all(after, PAGE) as unknown as BlockRow[]
      for (const row of page) yield { ...row, size: Number(row.size) }
      const last = page.at(-1)
      if (last === undefined || page.length < PAGE) return
      after = last.mh
    }
  }

  usedByPath(): Map<string, { used: number; count: number }> {
    const out = new Map<string, { used: number; count: number }>()
    for (const row of this.#s.usedByPath.all() as Array<{ pathId: string; used: number; count: number }>) {
      out.set(row.pathId, { used: Number(row.used), count: Number(row.count) })
    }
    return out
  }

  totals(): { blocks: number; bytes: number; pins: number } {
    const t = this.#s.totals.get() as { count: number; bytes: number }
    const p = this.#s.countPins.get() as { count: number }
    return { blocks: Number(t.count), bytes: Number(t.bytes), pins: Number(p.count) }
  }

  /** CID bytes of the first block of the DAG rooted at `mh` that is not indexed, if any. */
  firstMissing(mh: Uint8Array, cid: Uint8Array, recursive: boolean): Uint8Array | undefined {
    if (!recursive) return this.hasBlock(mh) ? undefined : cid
    const row = this.#s.firstMissing.get(mh, cid) as { cid: Uint8Array } | undefined
    return row?.cid
  }

  /** Multihashes reachable from `mh` through indexed links, `mh` included. */
  dagMembers(mh: Uint8Array): Uint8Array[] {
    return (this.#s.dagMembers.all(mh) as Array<{ mh: Uint8Array }>).map((r) => r.mh)
  }

  /** Blocks reachable from no pin (mark via links, in SQL). */
  garbage(): BlockRow[] {
    return (this.#s.garbage.all() as unknown as BlockRow[]).map((r) => ({ ...r, size: Number(r.size) }))
  }

  /** True when the block is reachable from any pin. */
  isLive(mh: Uint8Array): boolean {
    return this.#s.isLive.get(mh) !== undefined
  }

  getPin(mh: Uint8Array): PinRow | undefined {
    const row = this.#s.getPin.get(mh) as
      | { cid: Uint8Array; recursive: number; name: string | null; created: number }
      | undefined
    return row === undefined ? undefined : toPin(mh, row)
  }

  /** Inserts or upgrades a pin (direct → recursive; a new name replaces the old). */
  upsertPin(pin: { mh: Uint8Array; cid: Uint8Array; recursive: boolean; name?: string; created: number }): void {
    this.#s.upsertPin.run(pin.mh, pin.cid, pin.recursive ? 1 : 0, pin.name ?? null, pin.created)
  }

  deletePin(mh: Uint8Array): boolean {
    return Number(this.#s.deletePin.run(mh).changes) > 0
  }

  *pins(): Generator<PinRow> {
    let after: Uint8Array = new Uint8Array(0)
    for (;;) {
      const page = this.#s.pinPage.all(after, PAGE) as Array<{
        mh: Uint8Array
        cid: Uint8Array
        recursive: number
        name: string | null
        created: number
      }>
      for (const row of page) yield toPin(row.mh, row)
      const last = page.at(-1)
      if (last === undefined || page.length < PAGE) return
      after = last.mh
    }
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close()
  }
}

function toPin(
  mh: Uint8Array,
  row: { cid: Uint8Array; recursive: number; name: string | null; created: number },
): PinRow {
  return {
    mh,
    cid: row.cid,
    recursive: Number(row.recursive) === 1,
    name: row.name ?? undefined,
    created: Number(row.created),
  }
}
