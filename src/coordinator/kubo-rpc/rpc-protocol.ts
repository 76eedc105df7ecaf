import type { FastifyReply, FastifyRequest } from 'fastify'
import { PinfoldError } from '../../core/index.ts'
import { httpStatusFor } from '../http/error-status.ts'

/**
 * Kubo's command error codes (go-ipfs-cmds `ErrorType`): 0 normal (HTTP 500), 1 client (400),
 * 2 implementation, 3 not found, 4 fatal. Kubo answers nearly every failure of a known
 * command with 500 and code 0; we keep that, except for the statuses Pinfold adds on top
 * (401/403 auth, 413/507 limits, 429 rate) and argument errors (400, code 1).
 */
export interface KuboErrorBody {
  Message: string
  Code: number
  Type: 'error'
}

/** A failure to report in Kubo's shape; `status` defaults to 500 as Kubo. */
export class KuboRpcError extends PinfoldError {
  readonly status: number
  readonly kuboCode: number
  constructor(message: string, options: { status?: number; kuboCode?: number; code?: string } = {}) {
    super(options.code ?? 'ERR_KUBO_RPC', message, { userError: true })
    this.status = options.status ?? 500
    this.kuboCode = options.kuboCode ?? 0
  }
}

/** An argument or option the command cannot accept: 400, code 1 (Kubo's ErrClient). */
export function badArgument(message: string): KuboRpcError {
  return new KuboRpcError(message, { status: 400, kuboCode: 1, code: 'ERR_VALIDATION' })
}

/**
 * What a failure while reading a multipart body should be reported as: the parser's own
 * errors (a missing boundary, a malformed part header, a body that ends mid-part: plain
 * errors without an HTTP status or a syscall) mean the request is malformed, Kubo's 400;
 * anything else (Pinfold's errors, the limits' 413, disk failures) stays as it is.
 */
export function multipartError(error: unknown): unknown {
  if (error instanceof PinfoldError || !(error instanceof Error)) return error
  if (typeof (error as { statusCode?: unknown }).statusCode === 'number' || 'syscall' in error) return error
  return badArgument(`malformed multipart body: ${error.message.slice(0, 200)}`)
}

/** Statuses kept from Pinfold's own mapping; any other failure is Kubo's 500. */
const KEPT_STATUSES = new Set([400, 401, 403, 413, 429, 431, 507])

/** The Kubo-shaped status and body for any error thrown by a command. */
export function kuboErrorFor(error: unknown): { status: number; body: KuboErrorBody } {
  if (error instanceof KuboRpcError) return { status: error.status, body: { Message: error.message, Code: error.kuboCode, Type: 'error' } }
  if (error instanceof PinfoldError) {
    const status = httpStatusFor(error.code, error.userError)
    const kept = KEPT_STATUSES.has(status) ? status : 500
    return { status: kept, body: { Message: kuboMessage(error), Code: kept === 400 ? 1 : 0, Type: 'error' } }
  }
  const status = (error as { statusCode?: unknown } | null)?.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // the rate limiter throws its response object `{statusCode, error: {code, message}}`
    const nested = (error as { error?: { message?: unknown } }).error?.message
    const message = error instanceof Error ? error.message : typeof nested === 'string' ? nested : `request refused (${status})`
    return { status: KEPT_STATUSES.has(status) ? status : 400, body: { Message: message, Code: 1, Type: 'error' } }
  }
  return { status: 500, body: { Message: 'internal error', Code: 0, Type: 'error' } }
}

/** Kubo's wording where clients may look for it; Pinfold's message otherwise. */
function kuboMessage(error: PinfoldError): string {
  const missing = /block(?: not found:)? ([a-zA-Z0-9]+)(?: is missing)?$/.exec(error.message)?.[1]
  if ((error.code === 'ERR_BLOCK_NOT_FOUND' || error.code === 'ERR_DAG_INCOMPLETE') && missing) {
    return `block was not found locally (offline): ipld: could not find ${missing}`
  }
  return error.message
}

export function sendKuboError(reply: FastifyReply, error: unknown): FastifyReply {
  const { status, body } = kuboErrorFor(error)
  if (status === 401) reply.header('www-authenticate', 'Bearer')
  return reply.code(status).type('application/json').send(body)
}

/** Kubo's answer to a path no command serves (Go's `http.NotFound`). */
export function sendUnknownCommand(reply: FastifyReply): FastifyReply {
  return reply.code(404).type('text/plain; charset=utf-8').header('x-content-type-options', 'nosniff').send('404 page not found\n')
}

/** The command's query options: `arg` repeated, the rest by name (last value wins, as Go). */
export class RpcArgs {
  readonly args: string[]
  readonly #params: URLSearchParams

  constructor(request: FastifyRequest) {
    const query = request.url.indexOf('?')
    this.#params = new URLSearchParams(query === -1 ? '' : request.url.slice(query + 1))
    this.args = this.#params.getAll('arg')
  }

  /** The one required argument (Kubo: "argument \"key\" is required"). */
  arg(name = 'ipfs-path'): string {
    const value = this.args[0]
    if (value === undefined || value === '') throw badArgument(`argument "${name}" is required`)
    return value
  }

  /** At least one argument. */
  argList(name = 'ipfs-path'): string[] {
    if (this.args.length === 0) throw badArgument(`argument "${name}" is required`)
    return this.args
  }

  string(name: string): string | undefined {
    const values = this.#params.getAll(name)
    return values.at(-1)
  }

  /** Go's strconv.ParseBool spellings; a bare `?flag` means true. */
  bool(name: string, fallback: boolean): boolean {
    const value = this.string(name)
    if (value === undefined) return fallback
    if (value === '' || /^(1|t|true)$/i.test(value)) return true
    if (/^(0|f|false)$/i.test(value)) return false
    throw badArgument(`could not convert value "${value.slice(0, 50)}" to type "bool" (for option "-${name}")`)
  }

  /** A non-negative integer option. */
  integer(name: string): number | undefined {
    const value = this.string(name)
    if (value === undefined || value === '') return undefined
    const n = Number(value)
    if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n)) {
      throw badArgument(`could not convert value "${value.slice(0, 50)}" to type "int64" (for option "-${name}")`)
    }
    return n
  }
}
