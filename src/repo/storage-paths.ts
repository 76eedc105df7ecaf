import { randomUUID } from 'node:crypto'
import { mkdir, statfs } from 'node:fs/promises'
import { isAbsolute, join, resolve } from 'node:path'
import { base32 } from 'multiformats/bases/base32'
import { PinfoldError } from '../core/index.ts'
import { InvalidRepoConfigError, StorageFullError, StoragePathNotFoundError } from './errors.ts'
import { readJsonFile, writeJsonFile } from './json-file.ts'

/** `<storagePath>/sectorstore.json`, as in Lotus. */
export interface SectorStoreJson {
  ID: string
  /** Placement weight; 0 = read-only. */
  Weight: number
  /** False = read-only, whatever the weight. */
  CanStore: boolean
  /** Bytes this path may hold; 0 = unlimited (bounded by the filesystem). */
  MaxStorage: number
}

/** What `repo.storage.list()` reports about one storage path. */
export interface StoragePathInfo {
  id: string
  /** Absolute directory. */
  dir: string
  weight: number
  /** 0 = unlimited. */
  maxSize: number
  /** True when new blocks may be placed here (CanStore and weight > 0). */
  writable: boolean
  /** Bytes of indexed blocks stored here. */
  used: number
  /** Bytes that may still be written: filesystem free, capped at maxSize − used. */
  available: number
}

export const DEFAULT_WEIGHT = 10
const STATFS_TTL_MS = 1000

interface PathState {
  id: string
  dir: string
  /** As written in config.json. */
  configPath: string
  weight: number
  canStore: boolean
  maxSize: number
  used: number
  /** Bytes of queued, not yet committed blocks placed here. */
  reserved: number
  free: number
  freeAt: number
}

/** `blocks/<shard>/<name>` of a multihash: base32 (lowercase, no prefix), flatfs next-to-last/2 shard. */
export function blockRelPath(mh: Uint8Array): { shard: string; name: string } {
  const name = base32.baseEncode(mh)
  return { shard: name.slice(-3, -1), name }
}

export function sectorStoreFile(dir: string): string {
  return join(dir, 'sectorstore.json')
}

/**
 * Creates (or adopts) a storage path directory: `sectorstore.json`, `blocks/`, `tmp/`.
 * An existing `sectorstore.json` keeps its ID; given options overwrite its values.
 */
export async function initStoragePath(
  dir: string,
  options: { maxSize?: number; weight?: number } = {},
): Promise<SectorStoreJson> {
  await mkdir(join(dir, 'blocks'), { recursive: true })
  await mkdir(join(dir, 'tmp'), { recursive: true })
  const existing = (await readSectorStore(dir, false)) ?? {
    ID: randomUUID(),
    Weight: DEFAULT_WEIGHT,
    CanStore: true,
    MaxStorage: 0,
  }
  const json: SectorStoreJson = {
    ...existing,
    Weight: options.weight ?? existing.Weight,
    MaxStorage: options.maxSize ?? existing.MaxStorage,
    CanStore: true,
  }
  validate(dir, json)
  await writeJsonFile(sectorStoreFile(dir), json)
  return json
}

async function readSectorStore(dir: string, required: boolean): Promise<SectorStoreJson | undefined> {
  const file = sectorStoreFile(dir)
  const json = (await readJsonFile(file)) as SectorStoreJson | undefined
  if (json === undefined) {
    if (required) throw new InvalidRepoConfigError(file, 'missing (storage path not initialised or not mounted)')
    return undefined
  }
  validate(dir, json)
  return json
}

function validate(dir: string, json: SectorStoreJson): void {
  const file = sectorStoreFile(dir)
  if (typeof json.ID !== 'string' || json.ID === '') throw new InvalidRepoConfigError(file, 'ID must be a string')
  if (!Number.isFinite(json.Weight) || json.Weight < 0) throw new InvalidRepoConfigError(file, 'Weight must be ≥ 0')
  if (!Number.isSafeInteger(json.MaxStorage) || json.MaxStorage < 0) {
    throw new InvalidRepoConfigError(file, 'MaxStorage must be an integer ≥ 0')
  }
  if (typeof json.CanStore !== 'boolean') throw new InvalidRepoConfigError(file, 'CanStore must be a boolean')
}

/**
 * The repo's storage paths and block placement, as Lotus does it: a new block goes to the
 * writable path with the highest available × weight; a path without room is skipped.
 *
 * State is in memory and changes take effect at once (no restart). Methods that change
 * configuration write `sectorstore.json` durably before updating memory; callers serialise
 * them (the repo does). `choose`/`reserve`/`release`/`commit` are synchronous.
 */
export class StoragePaths {
  readonly #paths = new Map<string, PathState>()
  readonly #repoDir: string

  private constructor(repoDir: string) {
    this.#repoDir = repoDir
  }

  /** Loads every path listed in config.json; each must hold a valid `sectorstore.json`. */
  static async load(repoDir: string, configPaths: string[]): Promise<StoragePaths> {
    const sp = new StoragePaths(repoDir)
    for (const configPath of configPaths) {
      const dir = sp.resolve(configPath)
      const json = await readSectorStore(dir, true)
      if (json === undefined) continue
      await mkdir(join(dir, 'blocks'), { recursive: true })
      await mkdir(join(dir, 'tmp'), { recursive: true })
      sp.#attach(dir, configPath, json)
    }
    return sp
  }

  resolve(configPath: string): string {
    return isAbsolute(configPath) ? configPath : resolve(this.#repoDir, configPath)
  }

  #attach(dir: string, configPath: string, json: SectorStoreJson): void {
    if (this.#paths.has(json.ID)) {
      throw new PinfoldError('ERR_STORAGE_PATH_EXISTS', `storage path ${json.ID} (${dir}) is already attached`, {
        userError: true,
      })
    }
    for (const p of this.#paths.values()) {
      if (p.dir === dir) {
        throw new PinfoldError('ERR_STORAGE_PATH_EXISTS', `storage path ${dir} is already attached`, { userError: true })
      }
    }
    this.#paths.set(json.ID, {
      id: json.ID,
      dir,
      configPath,
      weight: json.Weight,
      canStore: json.CanStore,
      maxSize: json.MaxStorage,
      used: 0,
      reserved: 0,
      free: 0,
      freeAt: 0,
    })
  }

  /** Initialises (or adopts) `dir` and attaches it. Throws `ERR_STORAGE_PATH_EXISTS` if attached. */
  async add(configPath: string, options: { maxSize?: number; weight?: number } = {}): Promise<SectorStoreJson> {
    const dir = this.resolve(configPath)
    for (const p of this.#paths.values()) {
      if (p.dir === dir) {
        throw new PinfoldError('ERR_STORAGE_PATH_EXISTS', `storage path ${dir} is already attached`, { userError: true })
      }
    }
    const json = await initStoragePath(dir, options)
    this.#attach(dir, configPath, json)
    await this.refreshFree(json.ID)
    return json
  }

  /** Changes weight / maxSize of an attached path (writes its `sectorstore.json` first). */
  async set(id: string, options: { maxSize?: number; weight?: number }): Promise<void> {
    const p = this.#get(id)
    const json: SectorStoreJson = {
      ID: p.id,
      Weight: options.weight ?? p.weight,
      CanStore: p.canStore,
      MaxStorage: options.maxSize ?? p.maxSize,
    }
    validate(p.dir, json)
    await writeJsonFile(sectorStoreFile(p.dir), json)
    p.weight = json.Weight
    p.maxSize = json.MaxStorage
  }

  #get(id: string): PathState {
    const p = this.#paths.get(id)
    if (p === undefined) throw new StoragePathNotFoundError(id)
    return p
  }

  has(id: string): boolean {
    return this.#paths.has(id)
  }

  dir(id: string): string {
    return this.#get(id).dir
  }

  configPaths(): string[] {
    return [...this.#paths.values()].map((p) => p.configPath)
  }

  ids(): string[] {
    return [...this.#paths.keys()]
  }

  /** Absolute file of a block on path `id`. */
  blockFile(id: string, mh: Uint8Array): string {
    const { shard, name } = blockRelPath(mh)
    return join(this.#get(id).dir, 'blocks', shard, name)
  }

  /** `<path>/blocks/packs`: pack files, one per committed batch (see `write-batch.ts`). */
  packDir(id: string): string {
    return join(this.#get(id).dir, 'blocks', 'packs')
  }

  packFile(id: string, pack: string): string {
    return join(this.packDir(id), `${pack}.pack`)
  }

  shardDir(id: string, mh: Uint8Array): string {
    return join(this.#get(id).dir, 'blocks', blockRelPath(mh).shard)
  }

  tmpDir(id: string): string {
    return join(this.#get(id).dir, 'tmp')
  }

  /** Sets used bytes from the index (at open). */
  setUsed(used: Map<string, { used: number }>): void {
    for (const p of this.#paths.values()) p.used = used.get(p.id)?.used ?? 0
  }

  async refreshFree(id?: string): Promise<void> {
    const targets = id === undefined ? [...this.#paths.values()] : [this.#get(id)]
    await Promise.all(
      targets.map(async (p) => {
        const s = await statfs(p.dir)
        p.free = Number(s.bavail) * Number(s.bsize)
        p.freeAt = Date.now()
      }),
    )
  }

  /** Refreshes filesystem free space when older than a second (cheap enough per block). */
  async refreshStale(): Promise<void> {
    const now = Date.now()
    const stale = [...this.#paths.values()].filter((p) => now - p.freeAt > STATFS_TTL_MS)
    if (stale.length > 0) await Promise.all(stale.map((p) => this.refreshFree(p.id)))
  }

  #available(p: PathState): number {
    // Queued blocks already occupy the filesystem as temp files once statfs is refreshed;
    // subtracting them from both sides is conservative.
    const fsFree = Math.max(0, p.free - p.reserved)
    if (p.maxSize === 0) return fsFree
    return Math.max(0, Math.min(fsFree, p.maxSize - p.used - p.reserved))
  }

  /**
   * Picks the writable path with the most available × weight that has room for `size`
   * bytes and reserves them there. Throws `StorageFullError` (ERR_STORAGE_FULL) if none.
   * Synchronous: two concurrent puts never both take the last free bytes.
   */
  reserve(size: number): string {
    let best: PathState | undefined
    let bestScore = -1
    for (const p of this.#paths.values()) {
      if (!p.canStore || p.weight <= 0) continue
      const available = this.#available(p)
      if (available < size) continue
      const score = available * p.weight
      if (score > bestScore) {
        best = p
        bestScore = score
      }
    }
    if (best === undefined) throw new StorageFullError(size)
    best.reserved += size
    return best.id
  }

  /** Gives back a reservation (block committed → `commit`, or abandoned). */
  release(id: string, size: number, committed: boolean): void {
    const p = this.#paths.get(id)
    if (p === undefined) return
    p.reserved = Math.max(0, p.reserved - size)
    if (committed) p.used += size
  }

  /** Accounts for a removed block. */
  removed(id: string, size: number): void {
    const p = this.#paths.get(id)
    if (p !== undefined) p.used = Math.max(0, p.used - size)
  }

  list(): StoragePathInfo[] {
    return [...this.#paths.values()].map((p) => this.info(p.id))
  }

  info(id: string): StoragePathInfo {
    const p = this.#get(id)
    return {
      id: p.id,
      dir: p.dir,
      weight: p.weight,
      maxSize: p.maxSize,
      writable: p.canStore && p.weight > 0,
      used: p.used,
      available: this.#available(p),
    }
  }
}
