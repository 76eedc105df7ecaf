import { createHash } from 'node:crypto'
import { type PinSet, type ReconcileOptions, SyncInitiator, SyncResponder } from '../../src/sync/index.ts'

/** Deterministic pseudo-random bytes from a seed (SHA-256 in counter mode). */
export function seededBytes(seed: string): (n: number) => Uint8Array {
  let counter = 0
  let pool = new Uint8Array(0)
  let pos = 0
  return (n) => {
    const out = new Uint8Array(n)
    for (let o = 0; o < n; ) {
      if (pos >= pool.byteLength) {
        pool = new Uint8Array(createHash('sha256').update(`${seed}:${counter++}`).digest())
        pos = 0
      }
      const take = Math.min(n - o, pool.byteLength - pos)
      out.set(pool.subarray(pos, pos + take), o)
      o += take
      pos += take
    }
    return out
  }
}

/** A CIDv1 (raw, sha2-256) with the given 32-byte digest. */
export function cidFromDigest(digest: Uint8Array, codec = 0x55): Uint8Array {
  const cid = new Uint8Array(36)
  cid.set([0x01, codec, 0x12, 0x20])
  cid.set(digest, 4)
  return cid
}

/** `n` random CIDv1 sha2-256 CIDs. */
export function randomCids(n: number, seed: string): Uint8Array[] {
  const rand = seededBytes(seed)
  return Array.from({ length: n }, () => cidFromDigest(rand(32)))
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** Runs a whole session with messages passed directly; returns the differences and the traffic. */
export function runSession(held: PinSet, desired: PinSet, options: ReconcileOptions = {}, maxRoundTrips = 10_000) {
  const node = new SyncInitiator(held, options)
  const coordinator = new SyncResponder(desired, options)
  const have: Uint8Array[] = []
  const need: Uint8Array[] = []
  const sizes: number[] = []
  let message: Uint8Array | undefined = node.initiate()
  while (message) {
    if (node.stats.roundTrips >= maxRoundTrips) throw new Error('no convergence')
    sizes.push(message.byteLength)
    const answer = coordinator.respond(message)
    sizes.push(answer.byteLength)
    const result = node.reconcile(answer)
    have.push(...result.have)
    need.push(...result.need)
    message = result.reply
  }
  return { have, need, sizes, stats: node.stats }
}

/** Sorted hex strings, for comparing outcomes with a naive set difference. */
export const sortedHex = (list: Iterable<Uint8Array>): string[] => [...list].map(hex).sort()
