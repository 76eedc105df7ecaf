/**
 * Every SQL statement of the repo index (`<repo>/index.sqlite`), in one place.
 *
 * Keys are multihash bytes (`mh`), so a CIDv0 and a CIDv1 of the same digest are one block
 * and one pin. `cid` columns keep the CID bytes as first seen, for reporting.
 */

export const SCHEMA_VERSION = 2

export const PRAGMAS = `
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA foreign_keys = OFF;
PRAGMA busy_timeout = 5000;
`

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- One row per durable block: bytes [off, off + size) of pack file \`pack\`, or (schema 1, pack
-- NULL) the single file blocks/<shard>/<base32 mh>.
CREATE TABLE IF NOT EXISTS blocks (
  mh BLOB PRIMARY KEY,
  cid BLOB NOT NULL,
  path_id TEXT NOT NULL,
  size INTEGER NOT NULL,
  pack TEXT,
  off INTEGER
) WITHOUT ROWID;

-- One row per durable pack file (blocks/packs/<id>.pack on path path_id), written by one batch.
CREATE TABLE IF NOT EXISTS packs (
  id TEXT PRIMARY KEY,
  path_id TEXT NOT NULL,
  size INTEGER NOT NULL
) WITHOUT ROWID;

-- Child links of every indexed block (identity children omitted: they need no storage).
CREATE TABLE IF NOT EXISTS links (
  parent BLOB NOT NULL,
  child BLOB NOT NULL,
  child_cid BLOB NOT NULL,
  PRIMARY KEY (parent, child)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS pins (
  mh BLOB PRIMARY KEY,
  cid BLOB NOT NULL,
  recursive INTEGER NOT NULL,
  name TEXT,
  created INTEGER NOT NULL
) WITHOUT ROWID;

-- Block files renamed into place whose index rows are not committed yet (crash journal).
CREATE TABLE IF NOT EXISTS pending_files (
  mh BLOB NOT NULL,
  path_id TEXT NOT NULL,
  PRIMARY KEY (mh, path_id)
) WITHOUT ROWID;
`

/** Run after SCHEMA (and after migrating a schema-1 index). */
export const INDEXES = `
CREATE INDEX IF NOT EXISTS blocks_pack ON blocks (pack) WHERE pack IS NOT NULL;
CREATE INDEX IF NOT EXISTS links_child ON links (child);
`

/** Schema 1 → 2: pack columns (existing rows keep pack NULL: one file per block). */
export const MIGRATE_1_TO_2 = `
ALTER TABLE blocks ADD COLUMN pack TEXT;
ALTER TABLE blocks ADD COLUMN off INTEGER;
`

export const SQL = {
  getMeta: 'SELECT value FROM meta WHERE key = ?',
  setMeta: 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',

  getBlock: 'SELECT cid, path_id AS pathId, size, pack, off FROM blocks WHERE mh = ?',
  hasBlock: 'SELECT 1 AS one FROM blocks WHERE mh = ?',
  insertBlock: 'INSERT OR IGNORE INTO blocks (mh, cid, path_id, size, pack, off) VALUES (?, ?, ?, ?, ?, ?)',
  insertPack: 'INSERT INTO packs (id, path_id, size) VALUES (?, ?, ?)',
  packInUse: 'SELECT 1 AS one FROM blocks WHERE pack = ? LIMIT 1',
  deletePack: 'DELETE FROM packs WHERE id = ?',
  hasPack: 'SELECT 1 AS one FROM packs WHERE id = ?',
  packIds: 'SELECT id FROM packs WHERE path_id = ?',
  insertLink: 'INSERT OR IGNORE INTO links (parent, child, child_cid) VALUES (?, ?, ?)',
  deleteBlock: 'DELETE FROM blocks WHERE mh = ?',
  deleteLinks: 'DELETE FROM links WHERE parent = ?',
  blockPage: 'SELECT mh, cid, path_id AS pathId, size, pack, off FROM blocks WHERE mh > ? ORDER BY mh LIMIT ?',
  usedByPath: 'SELECT path_id AS pathId, SUM(size) AS used, COUNT(*) AS count FROM blocks GROUP BY path_id',
  totals: 'SELECT COUNT(*) AS count, COALESCE(SUM(size), 0) AS bytes FROM blocks',

  insertPending: 'INSERT OR IGNORE INTO pending_files (mh, path_id) VALUES (?, ?)',
  deletePending: 'DELETE FROM pending_files WHERE mh = ? AND path_id = ?',
  /** Journaled files whose block row never got committed, or that sit on another path. */
  orphanPending: `SELECT p.mh, p.path_id AS pathId FROM pending_files p
    WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE b.mh = p.mh AND b.path_id = p.path_id)`,
  clearPending: 'DELETE FROM pending_files',

  getPin: 'SELECT cid, recursive, name, created FROM pins WHERE mh = ?',
  upsertPin: `INSERT INTO pins (mh, cid, recursive, name, created) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (mh) DO UPDATE SET recursive = MAX(recursive, excluded.recursive),
      name = COALESCE(excluded.name, name)`,
  deletePin: 'DELETE FROM pins WHERE mh = ?',
  pinPage: 'SELECT mh, cid, recursive, name, created FROM pins WHERE mh > ? ORDER BY mh LIMIT ?',
  countPins: 'SELECT COUNT(*) AS count FROM pins',

  /** First block of the DAG under (?1 mh, ?2 cid) that has no row; walks the links table only. */
  firstMissing: `WITH RECURSIVE dag(mh, cid) AS (
      SELECT ?1, ?2
      UNION
      SELECT l.child, l.child_cid FROM links l JOIN dag d ON l.parent = d.mh
    )
    SELECT cid FROM dag WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE b.mh = dag.mh) LIMIT 1`,

  /** Every multihash reachable from ?1 through indexed links (including ?1). */
  dagMembers: `WITH RECURSIVE dag(mh) AS (
      SELECT ?1
      UNION
      SELECT l.child FROM links l JOIN dag d ON l.parent = d.mh
    )
    SELECT mh FROM dag`,

  /** Pins whose DAG includes multihash ?1: walks links upwards (links_child), direct pins only at ?1. */
  pinsAbove: `WITH RECURSIVE up(mh) AS (
      SELECT ?1
      UNION
      SELECT l.parent FROM links l JOIN up u ON l.child = u.mh
    )
    SELECT p.mh, p.cid, p.recursive FROM pins p JOIN up ON p.mh = up.mh WHERE p.recursive = 1 OR p.mh = ?1`,

  /** Bytes of the distinct indexed blocks reachable from ?1 through indexed links (including ?1). */
  dagBytes: `WITH RECURSIVE dag(mh) AS (
      SELECT ?1
      UNION
      SELECT l.child FROM links l JOIN dag d ON l.parent = d.mh
    )
    SELECT COALESCE(SUM(b.size), 0) AS bytes FROM dag JOIN blocks b ON b.mh = dag.mh`,

  /** Blocks reachable from no pin: direct pins keep their root, recursive pins their DAG. */
  garbage: `WITH RECURSIVE live(mh, expand) AS (
      SELECT mh, recursive FROM pins
      UNION
      SELECT l.child, 1 FROM links l JOIN live ON l.parent = live.mh WHERE live.expand = 1
    )
    SELECT b.mh, b.cid, b.path_id AS pathId, b.size, b.pack, b.off FROM blocks b
    WHERE b.mh NOT IN (SELECT mh FROM live)`,

  /** 1 when multihash ?1 is reachable from some pin. */
  isLive: `WITH RECURSIVE live(mh, expand) AS (
      SELECT mh, recursive FROM pins
      UNION
      SELECT l.child, 1 FROM links l JOIN live ON l.parent = live.mh WHERE live.expand = 1
    )
    SELECT 1 AS one FROM live WHERE mh = ?1 LIMIT 1`,
} as const
