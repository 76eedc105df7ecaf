export {
  BlockCorruptError,
  DagIncompleteError,
  InvalidRepoConfigError,
  RepoExistsError,
  RepoLockedError,
  RepoNotFoundError,
  StorageFullError,
  StoragePathNotFoundError,
} from './errors.ts'
export type { GcProgressEvent, GcResult } from './gc.ts'
export type { Pin, PinAddOptions, PinLsOptions, Pins } from './pins.ts'
export {
  initRepo,
  type OpenRepoOptions,
  openRepo,
  type Repo,
  type RepoBlockstore,
  type RepoStat,
  type RepoStorage,
} from './repo.ts'
export type { RepoConfig } from './repo-config.ts'
export type { StoragePathInfo } from './storage-paths.ts'
export type { ReadThrottle, VerifyOptions, VerifyResult } from './verify.ts'
