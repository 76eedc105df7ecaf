/**
 * Every failure Pinfold reports carries a stable `code` (listed in docs/errors.md).
 * Callers branch on `code`, never on message text; the API edge maps codes to HTTP
 * statuses and the CLI prints `message` alone for user mistakes.
 */
export class PinfoldError extends Error {
  readonly code: string
  /** True when the caller (user input, request) is at fault rather than Pinfold. */
  readonly userError: boolean

  constructor(code: string, message: string, options: { cause?: unknown; userError?: boolean } = {}) {
    super(message, { cause: options.cause })
    this.name = 'PinfoldError'
    this.code = code
    this.userError = options.userError ?? false
  }
}

/** A CID string or bytes that do not parse, or use an unsupported codec/hash. */
export class InvalidCidError extends PinfoldError {
  constructor(input: string, cause?: unknown) {
    super('ERR_INVALID_CID', `invalid CID: ${JSON.stringify(input.slice(0, 100))}`, { cause, userError: true })
  }
}

/** A block needed to answer was not in the store. */
export class BlockNotFoundError extends PinfoldError {
  constructor(cid: { toString(): string }) {
    super('ERR_BLOCK_NOT_FOUND', `block not found: ${cid.toString()}`, { userError: true })
  }
}

/** Bytes do not hash to the CID that names them. */
export class BlockHashMismatchError extends PinfoldError {
  constructor(cid: { toString(): string }) {
    super('ERR_BLOCK_HASH_MISMATCH', `block bytes do not match CID ${cid.toString()}`, { userError: true })
  }
}

/** A CAR file that is truncated, malformed or exceeds a bound. */
export class InvalidCarError extends PinfoldError {
  constructor(reason: string, cause?: unknown) {
    super('ERR_INVALID_CAR', `invalid CAR: ${reason}`, { cause, userError: true })
  }
}

/** A path or entry name that would escape its target (`..`, absolute, separators). */
export class UnsafePathError extends PinfoldError {
  constructor(name: string) {
    super('ERR_UNSAFE_PATH', `unsafe path or entry name: ${JSON.stringify(name.slice(0, 200))}`, { userError: true })
  }
}

/** A path inside a DAG (`cid/a/b`) that does not exist. */
export class PathNotFoundError extends PinfoldError {
  constructor(path: string) {
    super('ERR_PATH_NOT_FOUND', `no such path: ${path}`, { userError: true })
  }
}

/** A value outside what an option accepts (profile name, chunker spec, size). */
export class InvalidOptionError extends PinfoldError {
  constructor(message: string) {
    super('ERR_INVALID_OPTION', message, { userError: true })
  }
}

/** The operation was cancelled through its `signal`. */
export class AbortedError extends PinfoldError {
  constructor() {
    super('ERR_ABORTED', 'operation aborted')
  }
}
