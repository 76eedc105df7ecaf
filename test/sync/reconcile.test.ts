import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import { PinSet, SyncInitiator, SyncResponder } from '../../src/sync/index.ts'
import { cidFromDigest, hex, randomCids, runSession, seededBytes, sortedHex } from './helpers.ts'

/** Held and desired sets sharing `common` CIDs, with `missing` only desired and `extra` only held. */
function scenario(common: number, missing: number, extra: number, seed: string) {
  const shared = randomCids(common, `${seed}/common`)
  const onlyDesired = randomCids(missing, `${seed}/missing`)
  const onlyHeld = randomCids(extra, `${seed}/extra`)
  return {
    held: PinSet.from([...shared, ...onlyHeld]),
    desired: PinSet.from([...shared, ...onlyDesired]),
    onlyDesired,
    onlyHeld,
  }
}

describe('sync: reconciliation', () => {
  it('identical sets agree in one round trip with tiny messages', () => {
    const cids = randomCids(10_000, 'same')
    const result = runSession(PinSet.from(cids), PinSet.from([...cids].reverse()))
    assert.deepEqual(result.have, [])
    assert.deepEqual(result.need, [])
    assert.equal(result.stats.roundTrips, 1)
    assert.deepEqual(result.sizes, [19, 1])
  })

  it('two empty sets agree at once', () => {
    const result = runSession(PinSet.empty(), PinSet.from([]))
    assert.equal(result.stats.roundTrips, 1)
    assert.deepEqual([result.have, result.need], [[], []])
  })

  for (const maxMessageBytes of [4096, 256 * 1024]) {
    it(`empty node vs full desired set needs everything (messages ≤ ${maxMessageBytes} bytes)`, () => {
      const cids = randomCids(3000, 'full')
      const result = runSession(PinSet.empty(), PinSet.from(cids), { maxMessageBytes })
      assert.deepEqual(sortedHex(result.need), sortedHex(cids))
      assert.deepEqual(result.have, [])
      assert.ok(Math.max(...result.sizes) <= maxMessageBytes)
      if (maxMessageBytes === 4096) assert.ok(result.stats.roundTrips > 10)
    })

    it(`full node vs empty desired set has everything extra (messages ≤ ${maxMessageBytes} bytes)`, () => {
      const cids = randomCids(3000, 'full')
      const result = runSession(PinSet.from(cids), PinSet.empty(), { maxMessageBytes })
      assert.deepEqual(sortedHex(result.have), sortedHex(cids))
      assert.deepEqual(result.need, [])
      assert.equal(result.stats.roundTrips, 1)
    })
  }

  const cases: [number, number, number][] = [
    [1, 1, 0],
    [10, 0, 3],
    [100, 5, 5],
    [1000, 1, 0],
    [1000, 0, 1],
    [5000, 50, 50],
    [20_000, 100, 0],
    [20_000, 7, 300],
    [200, 1000, 1000],
  ]
  for (const [common, missing, extra] of cases) {
    for (const seed of ['a', 'b', 'c']) {
      it(`finds exactly ${missing} missing and ${extra} extra among ${common} shared (seed ${seed})`, () => {
        const s = scenario(common, missing, extra, `${common}/${missing}/${extra}/${seed}`)
        const result = runSession(s.held, s.desired)
        assert.deepEqual(sortedHex(result.need), sortedHex(s.onlyDesired))
        assert.deepEqual(sortedHex(result.have), sortedHex(s.onlyHeld))
      })
    }
  }

  it('finds exact differences with every branching/threshold/budget combination', () => {
    const s = scenario(4000, 40, 40, 'params')
    for (const branching of [2, 3, 16, 64]) {
      for (const itemThreshold of [1, 4, 32, 1024]) {
        for (const maxMessageBytes of [4096, 65536]) {
          const result = runSession(s.held, s.desired, { branching, itemThreshold, maxMessageBytes })
          const label = JSON.stringify({ branching, itemThreshold, maxMessageBytes })
          assert.deepEqual(sortedHex(result.need), sortedHex(s.onlyDesired), label)
          assert.deepEqual(sortedHex(result.have), sortedHex(s.onlyHeld), label)
          assert.ok(Math.max(...result.sizes) <= maxMessageBytes, label)
        }
      }
    }
  })

  it('finds a single difference at the minimum or the maximum id', () => {
    const cids = randomCids(5000, 'edges')
    const low = cidFromDigest(new Uint8Array(32))
    const high = cidFromDigest(new Uint8Array(32).fill(0xff))
    const nearHigh = cidFromDigest(new Uint8Array(32).fill(0xff).fill(0xfe, 31))
    for (const [held, desired, want] of [
      [[...cids, low], cids, { have: [low], need: [] }],
      [cids, [...cids, low], { have: [], need: [low] }],
      [[...cids, high], cids, { have: [high], need: [] }],
      [cids, [...cids, high], { have: [], need: [high] }],
      [[...cids, high], [...cids, nearHigh], { have: [high], need: [nearHigh] }],
      [[low], [high], { have: [low], need: [high] }],
    ] as [Uint8Array[], Uint8Array[], { have: Uint8Array[]; need: Uint8Array[] }][]) {
      const result = runSession(PinSet.from(held), PinSet.from(desired))
      assert.deepEqual(sortedHex(result.have), sortedHex(want.have))
      assert.deepEqual(sortedHex(result.need), sortedHex(want.need))
    }
  })

  it('returns the CID bytes as given, for CIDv0 and non-sha2-256 multihashes', () => {
    const rand = seededBytes('kinds')
    const v0 = new Uint8Array([0x12, 0x20, ...rand(32)])
    const sha512 = new Uint8Array([0x01, 0x70, 0x13, 0x40, ...rand(64)])
    const identity = new Uint8Array([0x01, 0x55, 0x00, 0x05, 1, 2, 3, 4, 5])
    const shared = randomCids(500, 'kinds/shared')
    const result = runSession(PinSet.from([...shared, identity]), PinSet.from([...shared, v0, sha512]))
    assert.deepEqual(sortedHex(result.need), sortedHex([v0, sha512]))
    assert.deepEqual(sortedHex(result.have), sortedHex([identity]))
  })

  it('bytes grow with the differences, not the set size', () => {
    const small = scenario(10_000, 10, 10, 'growth')
    const large = scenario(100_000, 10, 10, 'growth')
    const bytes = (r: { sizes: number[] }) => r.sizes.reduce((a, b) => a + b, 0)
    const a = bytes(runSession(small.held, small.desired))
    const b = bytes(runSession(large.held, large.desired))
    // one more level of splitting per ×B items: logarithmic, far from the ×10 of a full list
    assert.ok(b < a * 2.5, `${a} bytes at 10k, ${b} at 100k`)
    assert.ok(b < 100_000 * 36 * 0.02)
  })

  it('a session works on the snapshot taken when it started', () => {
    const cids = randomCids(1000, 'frozen')
    const held = PinSet.from(cids)
    const desired = PinSet.from(cids)
    const node = new SyncInitiator(held)
    const coordinator = new SyncResponder(desired)
    held.add(cidFromDigest(new Uint8Array(createHash('sha256').update('late').digest())))
    desired.delete(cids[0] as Uint8Array)
    const result = node.reconcile(coordinator.respond(node.initiate()))
    assert.equal(result.reply, undefined)
    assert.deepEqual([result.have, result.need], [[], []])
    assert.equal(hex(held.fingerprint()) === hex(desired.fingerprint()), false)
  })
})
