import { PinfoldError } from '../../core/index.ts'

export type Scope = 'read' | 'write' | 'admin'

/** Who is calling: decoded from a verified access token, never from the database. */
export interface Principal {
  accountId: string
  role: 'user' | 'admin'
  scopes: ReadonlySet<Scope>
  /** The API key the token was minted from; absent for password logins. */
  keyId?: string
  /** The access token this principal came with (set by verification, not by issuing). */
  token?: {
    /** Random per token, what sign-out records; absent in tokens minted before it existed. */
    id?: string
    /** ms since the epoch. */
    issuedAt: number
    expiresAt: number
  }
}

export class UnauthorizedError extends PinfoldError {
  constructor(message = 'authentication required: send Authorization: Bearer <access token>', code = 'ERR_UNAUTHORIZED') {
    super(code, message, { userError: true })
  }
}

export class ForbiddenError extends PinfoldError {
  constructor(message: string) {
    super('ERR_FORBIDDEN', message, { userError: true })
  }
}

/** Throws unless the principal holds `scope` (admin scope implies the others). */
export function requireScope(principal: Principal, scope: Scope): void {
  if (principal.scopes.has(scope) || principal.scopes.has('admin')) return
  throw new ForbiddenError(`this token lacks the ${scope} scope`)
}

export function requireAdmin(principal: Principal): void {
  if (principal.role !== 'admin' || !principal.scopes.has('admin')) throw new ForbiddenError('admin only')
}
