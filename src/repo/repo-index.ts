import { DatabaseSync, type StatementSync } from 'node:sqlite'
import { INDEXES, MIGRATE_1_TO_2, PRAGMAS, SCHEMA, SCHEMA_VERSION, SQL } from './sql.ts'

/** A block row of the index. */
export interface BlockRow {
  mh: Uint8Array
  /** CID bytes as first stored. */
  cid: Uint8Array
  pathId: string
  size: number
  /** Pack file holding the block at byte `off`; `undefined` for a schema-1 one-file-per-block row. */
  pack: string | undefined
  off: number
}

/** A pack file: one batch's blocks, back to back, in `<path>/blocks/packs/<id>.pack`. */
export interface PackRow {
  id: string
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
    const columns = this.#db.prepare('PRAGMA table_info(blocks)').all() as Array<{ name: string }>
    if (!columns.some((c) => c.name === 'pack')) this.#db.exec(MIGRATE_1_TO_2)
    this.#db.exec(INDEXES)
    const s: Partial<Statements> = {}
    for (const [key, sql] of Object.entries(SQL)) s[key as keyof Statements] = this.#db.prepare(sql)
    this.#s = s as Statements
    this.#s.setMeta.run('schema', String(SCHEMA_VERSION))
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
    const row = this.#s.getBlock.get(mh) as RawBlockRow | undefined
    return row === undefined ? undefined : toBlock({ ...row, mh })
  }

  /**
   * Commits pack rows, block rows and their links in ONE transaction (call only once every
   * pack file is durable under its final name). Rows for blocks already indexed are left as
   * they are (INSERT OR IGNORE); a pack none of whose rows was inserted is still recorded (GC
   * removes it with its last block… or at once: see `deadPacks`).
   */
  commitBlocks(packs: PackRow[], rows: NewBlockRow[]): void {
    this.transaction(() => {
      for (const p of packs) this.#s.insertPack.run(p.id, p.pathId, p.size)
      for (const row of rows) {
        this.#s.insertBlock.run(row.mh, row.cid, row.pathId, row.size, row.pack ?? null, row.pack === undefined ? null : row.off)
        for (const link of row.links) this.#s.insertLink.run(row.mh, link.mh, link.cid)
      }
    })
  }

  /** True when the pack has a row (its file must be kept). */
  hasPack(id: string): boolean {
    return this.#s.hasPack.get(id) !== undefined
  }

  /** Ids of the packs recorded on storage path `pathId`. */
  packIds(pathId: string): Set<string> {
    return new Set((this.#s.packIds.all(pathId) as Array<{ id: string }>).map((r) => r.id))
  }

  /** Schema-1 journal entries with no matching block row: files that may exist on disk unindexed. */
  orphanFiles(): Array<{ mh: Uint8Array; pathId: string }> {
    return this.#s.orphanPending.all() as Array<{ mh: Uint8Array; pathId: string }>
  }

  clearJournal(): void {
    this.#s.clearPending.run()
  }

  /**
   * Removes block rows and their outgoing links, and the rows of `packs` (candidates) that no
   * block uses any more, in one transaction. Returns the pack ids removed: their files may go.
   */
  deleteBlocks(mhs: Uint8Array[], packs: Iterable<string> = []): string[] {
    return this.transaction(() => {
      for (const mh of mhs) {
        this.#s.deleteBlock.run(mh)
        this.#s.deleteLinks.run(mh)
      }
      const dead: string[] = []
      for (const id of new Set(packs)) {
        if (this.#s.packInUse.get(id) !== undefined) continue
        this.#s.deletePack.run(id)
        dead.push(id)
      }
      return dead
    })
  }

  /** All block rows in multihash order, paged so rows may be deleted while iterating. */
  *blocks(): Generator<BlockRow> {
    let after: Uint8Array = new Uint8Array(0)
    for (;;) {
      const page = this.#s.blockPage.all(after, PAGE) as unknown as RawBlockRow[]
      for (const row of page) yield toBlock(row)
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

  /** Pins (root multihash and CID bytes) whose DAG holds block `mh`: recursive pins above it, or a pin of `mh` itself. */
  pinsAbove(mh: Uint8Array): Array<{ mh: Uint8Array; cid: Uint8Array }> {
    return this.#s.pinsAbove.all(mh) as Array<{ mh: Uint8Array; cid: Uint8Array }>
  }

  /** Multihashes reachable from `mh` through indexed links, `mh` included. */
  dagMembers(mh: Uint8Array): Uint8Array[] {
    return (this.#s.dagMembers.all(mh) as Array<{ mh: Uint8Array }>).map((r) => r.mh)
  }

  /** Bytes of the indexed blocks reachable from `mh`, each counted once (`mh` included). */
  dagBytes(mh: Uint8Array): number {
    return Number((this.#s.dagBytes.get(mh) as { bytes: number | bigint }).bytes)
  }

  /** Blocks reachable from no pin (mark via links, in SQL). */
  garbage(): BlockRow[] {
    return (this.#s.garbage.all() as unknown as RawBlockRow[]).map(toBlock)
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

  /** Upserts several pins in ONE transaction (one durable commit for all). */
  upsertPins(pins: Array<{ mh: Uint8Array; cid: Uint8Array; recursive: boolean; name?: string; created: number }>): void {
    this.transaction(() => {
      for (const pin of pins) this.upsertPin(pin)
    })
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

interface RawBlockRow {
  mh: Uint8Array
  cid: Uint8Array
  pathId: string
  size: number | bigint
  pack: string | null
  off: number | bigint | null
}

function toBlock(row: RawBlockRow): BlockRow {
  return {
    mh: row.mh,
    cid: row.cid,
    pathId: row.pathId,
    size: Number(row.size),
    pack: row.pack ?? undefined,
    off: Number(row.off ?? 0),
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
