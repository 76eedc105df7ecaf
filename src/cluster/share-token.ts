import { createPublicKey, type KeyObject } from 'node:crypto'
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose'

const ISSUER = 'pinfold-coordinator'
const AUDIENCE = 'pinfold-share'

/** What a share link grants: reading `cid` at and below `path` until `expiresAt`. */
export interface ShareGrant {
  /** The CID as CIDv1 (links work with either spelling of the CID). */
  cid: string
  /** Path segments below the CID the link is limited to (empty: the whole DAG). */
  path: string[]
  /** The account that shared it (for the coordinator's "still referenced" check). */
  accountId: string
  /** Seconds since the epoch. */
  expiresAt: number
  /**
   * Opaque to readers: for a link to a path below a DAG, the DAG's root sealed by the
   * coordinator (which checks the account still holds it); the link itself names only the
   * CID at the end of the path, so nothing above it is revealed.
   */
  via?: string
}

export type ShareCheck =
  | { ok: true; grant: ShareGrant }
  | { ok: false; code: 'ERR_SHARE_EXPIRED' | 'ERR_SHARE_INVALID'; message: string }

/**
 * Signed expiring read links (as dStor's expiring URLs): an EdDSA JWT signed with the
 * coordinator's Ed25519 key, so the coordinator and every storage node (which learn the
 * public key at welcome) can check one without a database read. Bound to one CID and a
 * path prefix below it; nothing else is readable with it.
 */
export async function issueShareToken(coordinatorKey: KeyObject, grant: ShareGrant): Promise<string> {
  return new SignJWT({ cid: grant.cid, path: grant.path.join('/'), ...(grant.via === undefined ? {} : { via: grant.via }) })
    .setProtectedHeader({ alg: 'EdDSA' })
    .setSubject(grant.accountId)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(grant.expiresAt)
    .sign(coordinatorKey)
}

/** Checks signature, issuer, audience and expiry; the caller matches the CID and path. */
export async function verifyShareToken(coordinatorPublicKey: Uint8Array, token: string, now = Date.now()): Promise<ShareCheck> {
  try {
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(coordinatorPublicKey).toString('base64url') },
      format: 'jwk',
    })
    const { payload } = await jwtVerify(token, key, {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['EdDSA'],
      currentDate: new Date(now),
      clockTolerance: 0,
    })
    const { cid, path, sub, exp, via } = payload
    if (typeof cid !== 'string' || typeof path !== 'string' || typeof sub !== 'string' || typeof exp !== 'number' || !(via === undefined || typeof via === 'string')) {
      return { ok: false, code: 'ERR_SHARE_INVALID', message: 'the share link is malformed' }
    }
    const grant: ShareGrant = { cid, path: path === '' ? [] : path.split('/'), accountId: sub, expiresAt: exp }
    if (via !== undefined) grant.via = via
    return { ok: true, grant }
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) {
      return { ok: false, code: 'ERR_SHARE_EXPIRED', message: 'this share link has expired; ask for a new one' }
    }
    return { ok: false, code: 'ERR_SHARE_INVALID', message: 'this share link is invalid (altered or not issued by this cluster)' }
  }
}

/**
 * Whether a request for `cid` (as CIDv1) and `segments` falls within a grant: the same CID
 * and a path at or below the grant's prefix, segment by segment.
 */
export function shareCovers(grant: ShareGrant, cidV1: string, segments: readonly string[]): boolean {
  if (grant.cid !== cidV1 || segments.length < grant.path.length) return false
  return grant.path.every((segment, i) => segments[i] === segment)
}

export type ShareDecision = { ok: true; grant: ShareGrant } | { ok: false; status: 401 | 403; code: string; message: string }

/** Verifies a `?share=` token and matches it against the requested CID and path. */
export async function authorizeShare(
  coordinatorPublicKey: Uint8Array,
  token: string,
  cidV1: string,
  segments: readonly string[],
): Promise<ShareDecision> {
  const check = await verifyShareToken(coordinatorPublicKey, token)
  if (!check.ok) return { ok: false, status: 401, code: check.code, message: check.message }
  if (!shareCovers(check.grant, cidV1, segments)) {
    const scope = ['/ipfs', check.grant.cid, ...check.grant.path].join('/')
    return { ok: false, status: 403, code: 'ERR_FORBIDDEN', message: `this share link only opens ${scope}` }
  }
  return check
}
