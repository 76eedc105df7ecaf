import { createPublicKey, type KeyObject } from 'node:crypto'
import { jwtVerify, SignJWT } from 'jose'

const ISSUER = 'pinfold-coordinator'
const AUDIENCE = 'pinfold-peer'

/**
 * Peer tokens let cluster members fetch from each other's /ipfs/: signed by the
 * coordinator's Ed25519 key (EdDSA JWT), short-lived and re-issued over the control
 * channel, so a revoked node stops getting them and can never mint its own.
 */
export async function issuePeerToken(
  coordinatorKey: KeyObject,
  subject: string,
  ttlSeconds: number,
): Promise<{ token: string; expiresAt: number }> {
  const expiresAt = Math.floor(Date.now() / 1000) + ttlSeconds
  const token = await new SignJWT({ role: 'peer' })
    .setProtectedHeader({ alg: 'EdDSA' })
    .setSubject(subject)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(expiresAt)
    .sign(coordinatorKey)
  return { token, expiresAt: expiresAt * 1000 }
}

/** The token's subject (node id or `coordinator`) when valid, else undefined. */
export async function verifyPeerToken(coordinatorPublicKey: Uint8Array, token: string): Promise<string | undefined> {
  try {
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(coordinatorPublicKey).toString('base64url') },
      format: 'jwk',
    })
    const { payload } = await jwtVerify(token, key, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['EdDSA'] })
    return payload.role === 'peer' && typeof payload.sub === 'string' ? payload.sub : undefined
  } catch {
    return undefined
  }
}
