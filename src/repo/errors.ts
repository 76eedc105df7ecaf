import { PinfoldError } from '../core/index.ts'

/** `initRepo` on a directory that already holds a repo (`config.json`). */
export class RepoExistsError extends PinfoldError {
  constructor(dir: string) {
    super('ERR_REPO_EXISTS', `a repo already exists at ${dir}`, { userError: true })
  }
}

/** `openRepo` on a directory that holds no repo. */
export class RepoNotFoundError extends PinfoldError {
  constructor(dir: string) {
    super('ERR_REPO_NOT_FOUND', `no repo at ${dir} (run init first)`, { userError: true })
  }
}

/** Another live process holds `<repo>/repo.lock`. */
export class RepoLockedError extends PinfoldError {
  constructor(dir: string, pid: number) {
    super('ERR_REPO_LOCKED', `repo ${dir} is in use by process ${pid}`, { userError: true })
  }
}

/** No writable storage path has room for a block. */
export class StorageFullError extends PinfoldError {
  constructor(size: number) {
    super('ERR_STORAGE_FULL', `no writable storage path has room for ${size} bytes`)
  }
}

/** A pin was requested for a DAG with blocks absent from the repo. */
export class DagIncompleteError extends PinfoldError {
  readonly missing: string
  constructor(root: { toString(): string }, missing: { toString(): string }) {
    super('ERR_DAG_INCOMPLETE', `DAG ${root.toString()} is incomplete: block ${missing.toString()} is missing`, {
      userError: true,
    })
    this.missing = missing.toString()
  }
}

/** A storage path id that the repo does not know. */
export class StoragePathNotFoundError extends PinfoldError {
  constructor(id: string) {
    super('ERR_STORAGE_PATH_NOT_FOUND', `no storage path with id ${id}`, { userError: true })
  }
}

/** A repo file (config.json, sectorstore.json) that does not parse or has invalid values. */
export class InvalidRepoConfigError extends PinfoldError {
  constructor(file: string, reason: string, cause?: unknown) {
    super('ERR_INVALID_REPO_CONFIG', `invalid ${file}: ${reason}`, { cause, userError: true })
  }
}

/**
 * A stored block whose bytes no longer hash to its CID (bit rot, a damaged disk): the read
 * fails rather than serve wrong bytes. Not the caller's fault (a 502: the store let it down).
 */
export class BlockCorruptError extends PinfoldError {
  constructor(cid: { toString(): string }) {
    super('ERR_BLOCK_CORRUPT', `stored block ${cid.toString()} is corrupt (its bytes do not match its CID); it is being repaired`)
  }
}
