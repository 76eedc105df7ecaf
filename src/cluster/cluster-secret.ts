import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'

/**
 * Proofs of the cluster secret. Joining nodes and the coordinator each show they know it
 * by an HMAC over fresh nonces; the secret itself never crosses the wire. Separate keys
 * are derived (HKDF) for each use so a proof of one kind can never be replayed as another.
 */
export interface ClusterSecret {
  /** HMAC proving the secret for `purpose` over the given parts. */
  prove(purpose: 'join' | 'welcome', ...parts: Uint8Array[]): Uint8Array
  /** Constant-time check of a proof. */
  check(purpose: 'join' | 'welcome', proof: Uint8Array, ...parts: Uint8Array[]): boolean
}

export function clusterSecret(secret: string): ClusterSecret {
  const derive = (info: string) => new Uint8Array(hkdfSync('sha256', secret, 'pinfold-cluster', info, 32))
  const keys = { join: derive('join-v1'), welcome: derive('welcome-v1') }
  const prove = (purpose: 'join' | 'welcome', ...parts: Uint8Array[]) => {
    const hmac = createHmac('sha256', keys[purpose])
    // length-prefix each part so (a, bc) and (ab, c) cannot collide
    for (const part of parts) hmac.update(lengthPrefix(part.length)).update(part)
    return new Uint8Array(hmac.digest())
  }
  return {
    prove,
    check(purpose, proof, ...parts) {
      const expected = prove(purpose, ...parts)
      return proof.length === expected.length && timingSafeEqual(proof, expected)
    },
  }
}

function lengthPrefix(length: number): Uint8Array {
  const bytes = new Uint8Array(4)
  new DataView(bytes.buffer).setUint32(0, length)
  return bytes
}
