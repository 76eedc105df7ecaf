import { join } from 'node:path'
import { InvalidRepoConfigError } from './errors.ts'
import { readJsonFile, writeJsonFile } from './json-file.ts'

/** `<repo>/config.json`. Field names follow Kubo/Lotus capitalisation. */
export interface RepoConfig {
  Version: 1
  /** Storage path directories; relative ones are resolved against the repo directory. */
  StoragePaths: Array<{ Path: string }>
  Gc: {
    /** Bytes the repo may use before `gcIfNeeded` collects (Kubo `Datastore.StorageMax`). */
    StorageMax: number
    /** Percentage of StorageMax above which `gcIfNeeded` collects (Kubo `StorageGCWatermark`). */
    GCWatermark: number
  }
}

export const DEFAULT_STORAGE_MAX = 10_000_000_000
export const DEFAULT_GC_WATERMARK = 90

export function configFile(repoDir: string): string {
  return join(repoDir, 'config.json')
}

export function defaultConfig(storagePath: string): RepoConfig {
  return {
    Version: 1,
    StoragePaths: [{ Path: storagePath }],
    Gc: { StorageMax: DEFAULT_STORAGE_MAX, GCWatermark: DEFAULT_GC_WATERMARK },
  }
}

/** Reads and validates `config.json`; `undefined` when absent. Missing Gc fields get defaults. */
export async function readRepoConfig(repoDir: string): Promise<RepoConfig | undefined> {
  const file = configFile(repoDir)
  const raw = (await readJsonFile(file)) as Partial<RepoConfig> | undefined
  if (raw === undefined) return undefined
  if (typeof raw !== 'object' || raw === null || !Array.isArray(raw.StoragePaths)) {
    throw new InvalidRepoConfigError(file, 'StoragePaths must be a list')
  }
  for (const p of raw.StoragePaths) {
    if (typeof p?.Path !== 'string' || p.Path === '') throw new InvalidRepoConfigError(file, 'each StoragePaths entry needs a Path')
  }
  const gc = { StorageMax: DEFAULT_STORAGE_MAX, GCWatermark: DEFAULT_GC_WATERMARK, ...(raw.Gc ?? {}) }
  if (!Number.isFinite(gc.StorageMax) || gc.StorageMax < 0) throw new InvalidRepoConfigError(file, 'Gc.StorageMax must be ≥ 0')
  if (!Number.isFinite(gc.GCWatermark) || gc.GCWatermark < 0 || gc.GCWatermark > 100) {
    throw new InvalidRepoConfigError(file, 'Gc.GCWatermark must be 0–100')
  }
  return { ...raw, Version: 1, StoragePaths: raw.StoragePaths, Gc: gc }
}

export async function writeRepoConfig(repoDir: string, config: RepoConfig): Promise<void> {
  await writeJsonFile(configFile(repoDir), config)
}
