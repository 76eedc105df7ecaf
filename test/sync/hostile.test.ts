import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PinfoldError } from '../../src/core/errors.ts'
import { PinSet, SyncInitiator, SyncResponder } from '../../src/sync/index.ts'
import { cidFromDigest, randomCids, seededBytes } from './helpers.ts'

const TO_RESPONDER = 0xa1
const TO_INITIATOR = 0xa2

function expectInvalid(fn: () => unknown, label: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof PinfoldError, `${label}: ${String(error)}`)
    assert.equal(error.code, 'ERR_INVALID_SYNC_MESSAGE', label)
    return true
  })
}

const bytes = (...parts: (number | Uint8Array | number[])[]) =>
  new Uint8Array(parts.flatMap((p) => (typeof p === 'number' ? [p] : [...p])))

describe('sync: hostile and malformed messages', () => {
  const cids = randomCids(2000, 'hostile')
  const held = PinSet.from(cids.slice(0, 1900))
  const desired = PinSet.from(cids.slice(100))
  const id = (b: number) => new Uint8Array(32).fill(b)

  it('the responder refuses malformed messages with ERR_INVALID_SYNC_MESSAGE', () => {
    const responder = new SyncResponder(desired, { maxIncomingBytes: 8192 })
    const fp = new Uint8Array(16)
    const cases: [string, unknown][] = [
      ['empty', new Uint8Array(0)],
      ['not bytes', 'hello'],
      ['unknown header', bytes(0x00)],
      ['wrong role', bytes(TO_INITIATOR)],
      ['truncated bound', bytes(TO_RESPONDER, 5, 1, 2)],
      ['bound too long', bytes(TO_RESPONDER, 33, new Uint8Array(33), 1, fp)],
      ['no mode', bytes(TO_RESPONDER, 0)],
      ['unknown mode', bytes(TO_RESPONDER, 0, 9)],
      ['mode of the other direction', bytes(TO_RESPONDER, 0, 3, 0)],
      ['truncated fingerprint', bytes(TO_RESPONDER, 0, 1, 1, 2, 3)],
      ['bounds not increasing', bytes(TO_RESPONDER, 1, 0x80, 0, 1, 0x80, 1, fp)],
      ['shorter bound below the last', bytes(TO_RESPONDER, 1, 0x80, 0, 2, 0x7f, 0xff, 1, fp)],
      ['range after +∞', bytes(TO_RESPONDER, 0, 0, 1, 0x10, 1, fp)],
      ['huge id count', bytes(TO_RESPONDER, 0, 2, 0xff, 0xff, 0xff, 0xff, 0x0f)],
      ['overlong varint', bytes(TO_RESPONDER, 0, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)],
      ['id count beyond the bytes', bytes(TO_RESPONDER, 0, 2, 3, id(1), id(2))],
      ['ids not increasing', bytes(TO_RESPONDER, 0, 2, 2, id(2), id(1))],
      ['duplicate ids', bytes(TO_RESPONDER, 0, 2, 2, id(2), id(2))],
      ['id outside its range', bytes(TO_RESPONDER, 1, 0x10, 2, 1, id(0x20))],
      ['too large', bytes(TO_RESPONDER, 0, 2, 0, new Uint8Array(9000))],
      ['trailing garbage', bytes(TO_RESPONDER, 0, 0, 7)],
    ]
    for (const [label, message] of cases) expectInvalid(() => responder.respond(message as Uint8Array), label)
  })

  it('the initiator refuses malformed or false answers with ERR_INVALID_SYNC_MESSAGE', () => {
    const initiator = new SyncInitiator(held)
    const heldCid = cids[500] as Uint8Array
    const heldId = heldCid.subarray(4)
    const missingCid = cidFromDigest(seededBytes('not held')(32))
    const cases: [string, Uint8Array][] = [
      ['wrong role', bytes(TO_RESPONDER, 0, 1, new Uint8Array(16))],
      ['IdList is for the responder', bytes(TO_INITIATOR, 0, 2, 0)],
      ['item that is not a CID', bytes(TO_INITIATOR, 0, 3, 1, 4, 1, 2, 3, 4)],
      ['CID longer than allowed', bytes(TO_INITIATOR, 0, 3, 1, 0x81, 0x02, new Uint8Array(257))],
      ['truncated CID', bytes(TO_INITIATOR, 0, 3, 1, 36, heldCid.subarray(0, 20))],
      ['huge item count', bytes(TO_INITIATOR, 0, 3, 0xff, 0xff, 0xff, 0x7f)],
      ['diff says a held pin is missing', bytes(TO_INITIATOR, 0, 4, 1, 36, heldCid, 0)],
      ['diff says a pin not held is extra', bytes(TO_INITIATOR, 0, 4, 0, 1, missingCid.subarray(4))],
      ['diff truncated before its haves', bytes(TO_INITIATOR, 0, 4, 0)],
      ['diff have outside its range', bytes(TO_INITIATOR, 1, heldId[0] as number, 4, 0, 1, heldId)],
    ]
    for (const [label, message] of cases) expectInvalid(() => initiator.reconcile(message), label)
  })

  it('every truncation and random corruption of real messages is refused cleanly or answered', () => {
    const initiator = new SyncInitiator(held, { maxMessageBytes: 4096 })
    const responder = new SyncResponder(desired, { maxMessageBytes: 4096 })
    const rand = seededBytes('fuzz')
    const toResponder: Uint8Array[] = []
    const toInitiator: Uint8Array[] = []
    let message: Uint8Array | undefined = initiator.initiate()
    while (message) {
      toResponder.push(message)
      const answer = responder.respond(message)
      toInitiator.push(answer)
      message = new SyncInitiator(held, { maxMessageBytes: 4096 }).reconcile(answer).reply
      if (toResponder.length > 3) break
    }
    const tryBoth = (m: Uint8Array, label: string) => {
      for (const fn of [() => new SyncResponder(desired).respond(m), () => new SyncInitiator(held).reconcile(m)]) {
        try {
          fn()
        } catch (error) {
          assert.ok(error instanceof PinfoldError && error.code === 'ERR_INVALID_SYNC_MESSAGE', `${label}: ${String(error)}`)
        }
      }
    }
    for (const m of [...toResponder, ...toInitiator]) {
      for (let len = 0; len < m.byteLength; len += Math.max(1, Math.floor(m.byteLength / 300))) tryBoth(m.subarray(0, len), `truncated at ${len}`)
      for (let k = 0; k < 150; k++) {
        const corrupt = m.slice()
        const r = rand(3)
        corrupt[((r[0] as number) * 256 + (r[1] as number)) % corrupt.byteLength] = r[2] as number
        tryBoth(corrupt, 'corrupted')
      }
    }
    for (let k = 0; k < 300; k++) {
      const r = rand(1 + ((rand(1)[0] as number) % 64))
      tryBoth(bytes(k % 2 ? TO_RESPONDER : TO_INITIATOR, r), 'random')
    }
  })

  it('refuses options outside their bounds', () => {
    for (const options of [{ branching: 1 }, { branching: 65 }, { itemThreshold: 0 }, { maxMessageBytes: 100 }, { branching: 2.5 }]) {
      assert.throws(() => new SyncResponder(desired, options), { code: 'ERR_INVALID_OPTION' })
    }
  })
})
