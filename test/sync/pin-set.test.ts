import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { EMPTY_FINGERPRINT, PinSet, tryPinId } from '../../src/sync/index.ts'
import { cidFromDigest, hex, randomCids, seededBytes } from './helpers.ts'

describe('sync: PinSet', () => {
  it('derives pin ids from the multihash: the digest for sha2-256, else SHA-256 of the multihash', () => {
    const digest = seededBytes('id')(32)
    assert.equal(hex(tryPinId(cidFromDigest(digest)) as Uint8Array), hex(digest))
    assert.equal(hex(tryPinId(cidFromDigest(digest, 0x70)) as Uint8Array), hex(digest))
    assert.equal(hex(tryPinId(new Uint8Array([0x12, 0x20, ...digest])) as Uint8Array), hex(digest))
    const identity = tryPinId(new Uint8Array([0x01, 0x55, 0x00, 0x03, 1, 2, 3]))
    assert.equal(identity?.byteLength, 32)
    for (const bad of [
      new Uint8Array(0),
      new Uint8Array([0x01]),
      new Uint8Array([0x02, 0x55, 0x12, 0x20, ...digest]),
      new Uint8Array([0x01, 0x55, 0x12, 0x21, ...digest]),
      new Uint8Array([0x01, 0x55, 0x12, 0x20, ...digest, 0]),
      new Uint8Array([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      new Uint8Array(300).fill(1),
    ]) {
      assert.equal(tryPinId(bad), undefined, hex(bad))
    }
  })

  it('rejects bytes that are not CIDs with ERR_INVALID_CID', () => {
    assert.throws(() => PinSet.from([new Uint8Array([1, 2, 3])]), { code: 'ERR_INVALID_CID' })
    assert.throws(() => PinSet.empty().add(new Uint8Array(5)), { code: 'ERR_INVALID_CID' })
  })

  it('collapses duplicates and CIDs that share a multihash, keeping the first CID', () => {
    const digest = seededBytes('dup')(32)
    const set = PinSet.from([cidFromDigest(digest, 0x70), cidFromDigest(digest), cidFromDigest(digest, 0x70)])
    assert.equal(set.size, 1)
    assert.deepEqual([...set.cids()].map(hex), [hex(cidFromDigest(digest, 0x70))])
    assert.equal(set.add(cidFromDigest(digest)), false)
    assert.equal(set.has(new Uint8Array([0x12, 0x20, ...digest])), true)
  })

  it('keeps ids sorted and fingerprints consistent with a rebuilt set through adds and deletes', () => {
    const rand = seededBytes('mutate')
    const pool = randomCids(3000, 'mutate/pool')
    const live = new Map<string, Uint8Array>()
    const set = PinSet.from(pool.slice(0, 1000))
    for (const cid of pool.slice(0, 1000)) live.set(hex(cid), cid)
    for (let step = 0; step < 40; step++) {
      for (let k = 0; k < 50; k++) {
        const pick = rand(3)
        const cid = pool[((pick[0] as number) * 256 + (pick[1] as number)) % pool.length] as Uint8Array
        const key = hex(cid)
        if ((pick[2] as number) < 128) {
          assert.equal(set.add(cid), !live.has(key))
          live.set(key, cid)
        } else {
          assert.equal(set.delete(cid), live.has(key))
          live.delete(key)
        }
        assert.equal(set.has(cid), live.has(key))
      }
      assert.equal(set.size, live.size)
      if (step % 4 !== 3) continue // let changes pile up between reads too
      const rebuilt = PinSet.from(live.values())
      assert.equal(hex(set.fingerprint()), hex(rebuilt.fingerprint()))
      const bounds = [rand(1), rand(2), rand(32), new Uint8Array(0)]
      for (const lower of bounds) {
        for (const upper of bounds) {
          assert.equal(hex(set.fingerprint({ lower, upper })), hex(rebuilt.fingerprint({ lower, upper })))
        }
      }
      const ids = [...set.cids()].map((c) => hex(tryPinId(c) as Uint8Array))
      assert.deepEqual(ids, [...ids].sort())
      assert.deepEqual([...set.cids()].map(hex).sort(), [...live.keys()].sort())
    }
  })

  it('fingerprints order-independently and distinguishes counts and members', () => {
    const cids = randomCids(100, 'fp')
    const a = PinSet.from(cids)
    const b = PinSet.empty()
    for (const cid of [...cids].reverse()) b.add(cid)
    assert.equal(hex(a.fingerprint()), hex(b.fingerprint()))
    b.delete(cids[7] as Uint8Array)
    assert.notEqual(hex(a.fingerprint()), hex(b.fingerprint()))
    assert.equal(hex(PinSet.empty().fingerprint()), hex(EMPTY_FINGERPRINT))
    assert.equal(a.fingerprint().byteLength, 16)
  })
})
