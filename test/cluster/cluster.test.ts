import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  clusterSecret,
  issuePeerToken,
  loadOrCreateNodeIdentity,
  nodeIdFromPublicKey,
  parseCoordinatorMessage,
  parseNodeMessage,
  verifyNodeSignature,
  verifyPeerToken,
} from '../../src/cluster/index.ts'

describe('node identity', () => {
  it('is created once, kept private, and its id derives from the public key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pinfold-identity-'))
    try {
      const first = await loadOrCreateNodeIdentity(dir)
      const again = await loadOrCreateNodeIdentity(dir)
      assert.equal(again.id, first.id)
      assert.equal(first.id, nodeIdFromPublicKey(first.publicKey))
      assert.equal((await stat(join(dir, 'node-identity.pem'))).mode & 0o077, 0)
      const message = randomBytes(32)
      const signature = first.sign(message)
      assert.ok(verifyNodeSignature(first.publicKey, message, signature))
      assert.ok(!verifyNodeSignature(first.publicKey, randomBytes(32), signature))
      const other = await loadOrCreateNodeIdentity(await mkdtemp(join(tmpdir(), 'pinfold-identity-')))
      assert.ok(!verifyNodeSignature(other.publicKey, message, signature), 'a forged identity does not verify')
      assert.ok(!verifyNodeSignature(new Uint8Array(5), message, signature))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('cluster secret proofs', () => {
  it('accept the right secret only, per purpose and per nonce', () => {
    const nonce = randomBytes(32)
    const key = randomBytes(32)
    const proof = clusterSecret('s3cret-s3cret').prove('join', nonce, key)
    assert.ok(clusterSecret('s3cret-s3cret').check('join', proof, nonce, key))
    assert.ok(!clusterSecret('wrong-secret').check('join', proof, nonce, key))
    assert.ok(!clusterSecret('s3cret-s3cret').check('welcome', proof, nonce, key), 'not replayable as another purpose')
    assert.ok(!clusterSecret('s3cret-s3cret').check('join', proof, randomBytes(32), key), 'bound to the nonce')
    assert.ok(!clusterSecret('s3cret-s3cret').check('join', proof.subarray(1), nonce, key))
  })
})

describe('peer tokens', () => {
  it('verify with the coordinator key and not with another, for their audience only', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    const raw = new Uint8Array(Buffer.from((publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url'))
    const { token } = await issuePeerToken(privateKey, 'pfnode1', 'pfnode2', 60)
    assert.equal(await verifyPeerToken(raw, token, 'pfnode2'), 'pfnode1')
    assert.equal(await verifyPeerToken(raw, token, 'pfnode3'), undefined, 'bound to its audience')
    assert.equal(await verifyPeerToken(raw, token, 'coordinator'), undefined, 'bound to its audience')
    const other = generateKeyPairSync('ed25519').publicKey
    const otherRaw = new Uint8Array(Buffer.from((other.export({ format: 'jwk' }) as { x: string }).x, 'base64url'))
    assert.equal(await verifyPeerToken(otherRaw, token, 'pfnode2'), undefined)
    assert.equal(await verifyPeerToken(raw, `${token}x`, 'pfnode2'), undefined)
    const expired = await issuePeerToken(privateKey, 'pfnode1', 'pfnode2', -10)
    assert.equal(await verifyPeerToken(raw, expired.token, 'pfnode2'), undefined)
  })
})

describe('control messages', () => {
  it('parse valid frames and reject malformed ones with a stable code', () => {
    assert.deepEqual(parseNodeMessage('{"type":"ack","seq":5}'), { type: 'ack', seq: 5 })
    assert.equal(parseCoordinatorMessage(JSON.stringify({ type: 'changes', changes: [{ seq: 1, cid: 'bafy', action: 'pin' }], more: false })).type, 'changes')
    for (const bad of ['', 'nope', '{"type":"ack"}', '{"type":"ack","seq":-1}', '{"type":"launch"}', '[]', 'null']) {
      assert.throws(() => parseNodeMessage(bad), { code: 'ERR_INVALID_CONTROL_MESSAGE' }, bad)
    }
    assert.throws(() => parseNodeMessage('{"type":"changes","changes":[],"more":false}'), { code: 'ERR_INVALID_CONTROL_MESSAGE' }, 'direction enforced')
  })
})
