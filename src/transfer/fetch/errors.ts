import type { CID } from 'multiformats/cid'
import { PinfoldError } from '../../core/index.ts'

/**
 * A source sent a block that is neither the requested root nor linked from a block it
 * already sent (and that was verified): the source is not trusted for the rest of the fetch.
 */
export class UnexpectedBlockError extends PinfoldError {
  constructor(cid: CID) {
    super('ERR_UNEXPECTED_BLOCK', `unexpected block ${cid}: neither the requested root nor linked from a verified parent`)
  }
}

/** A source answered with an error status or a wrong content type, or could not be reached. */
export class SourceFailedError extends PinfoldError {
  constructor(message: string, cause?: unknown) {
    super('ERR_SOURCE_FAILED', message, { cause })
  }
}

/** Why one source was given up on during a fetch. */
export interface SourceFailure {
  /** The source's base URL. */
  source: string
  /** Stable code of the failure (`ERR_BLOCK_HASH_MISMATCH`, `ERR_UNEXPECTED_BLOCK`, `ERR_INVALID_CAR`, …). */
  code: string
  message: string
}

/** No source could deliver the rest of the DAG; `failures` says why, per source. */
export class FetchFailedError extends PinfoldError {
  readonly root: CID
  readonly failures: SourceFailure[]
  /** Roots of subtrees still missing (the first 100 when more). */
  readonly missing: CID[]

  constructor(root: CID, failures: SourceFailure[], missing: CID[], missingCount = missing.length) {
    const reasons =
      failures.length === 0
        ? 'no sources given'
        : failures.map((f) => `${f.source}: ${f.code}: ${f.message}`).join('; ')
    super('ERR_FETCH_FAILED', `could not fetch DAG ${root} (${missingCount} subtree(s) still missing): ${reasons}`)
    this.root = root
    this.failures = failures
    this.missing = missing
  }
}
