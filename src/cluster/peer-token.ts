import { createPublicKey, type KeyObject } from 'node:crypto'
import { jwtVerify, SignJWT } from 'jose'

const ISSUER = 'pinfold-coordinator'
/** The audience of tokens presented to the coordinator's own `/ipfs/` (every replica shares the key). */
export const COORDINATOR_AUDIENCE = 'coordinator'

/** The `aud` claim: prefixed, so a peer token can never pass for any other kind of token. */
const audienceClaim = (audience: string) => `pinfold-peer:${audience}`

/**
 * Peer tokens let cluster members fetch from each other's /ipfs/: signed by the
 * coordinator's Ed25519 key (EdDSA JWT), short-lived and re-issued over the control
 * channel, so a revoked node stops getting them and can never mint its own. Each token is
 * bound to one audience — the node id of the gateway it is presented to, or
 * `COORDINATOR_AUDIENCE` — so a token a node receives in a request is useless anywhere else.
 */
export async function issuePeerToken(
  coordinatorKey: KeyObject,
  subject: string,
  audience: string,
  ttlSeconds: number,
): Promise<{ token: string; expiresAt: number }> {
  const expiresAt = Math.floor(Date.now() / 1000) + ttlSeconds
  const token = await new SignJWT({ role: 'peer' })
    .setProtectedHeader({ alg: 'EdDSA' })
    .setSubject(subject)
    .setIssuer(ISSUER)
    .setAudience(audienceClaim(audience))
    .setIssuedAt()
    .setExpirationTime(expiresAt)
    .sign(coordinatorKey)
  return { token, expiresAt: expiresAt * 1000 }
}

/** The token's subject (node id or `coordinator`) when valid for `audience`, else undefined. */
export async function verifyPeerToken(coordinatorPublicKey: Uint8Array, token: string, audience: string): Promise<string | undefined> {
  try {
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(coordinatorPublicKey).toString('base64url') },
      format: 'jwk',
    })
    const { payload } = await jwtVerify(token, key, {
      issuer: ISSUER,
      audience: audienceClaim(audience),
      algorithms: ['EdDSA'],
      requiredClaims: ['exp'],
    })
    return payload.role === 'peer' && typeof payload.sub === 'string' ? payload.sub : undefined
  } catch {
    return undefined
  }
}
