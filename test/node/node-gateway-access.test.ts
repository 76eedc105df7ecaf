import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { describe, it } from 'node:test'
import { COORDINATOR_AUDIENCE, checkIdentityAnswer, issuePeerToken, issueShareToken } from '../../src/cluster/index.ts'
import { importBytes, importEntries, MemoryBlockstore } from '../../src/core/index.ts'
import { resolveNodeConfig } from '../../src/node/config.ts'
import { createNodeGateway } from '../../src/node/node-gateway.ts'
import { memoryIdentity } from '../helpers/fake-node.ts'

const base = { join: 'http://127.0.0.1:1', secret: 'a-cluster-secret-of-16+' }

function coordinatorKeys() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const raw = new Uint8Array(Buffer.from((publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url'))
  return { privateKey, raw }
}

describe('node gateway access', () => {
  it('--gateway-access defaults to peer, accepts public, refuses anything else', () => {
    assert.equal(resolveNodeConfig(base).gatewayAccess, 'peer')
    assert.equal(resolveNodeConfig({ ...base, gatewayAccess: 'public' }).gatewayAccess, 'public')
    assert.throws(() => resolveNodeConfig({ ...base, gatewayAccess: 'token' }), { code: 'ERR_INVALID_OPTION', message: /--gateway-access/ })
  })

  it('public serves anyone, without a token and before the coordinator key is known', async () => {
    const blocks = new MemoryBlockstore()
    const { cid } = await importBytes(new TextEncoder().encode('for everyone'), blocks)
    const gateway = createNodeGateway({ source: blocks, identity: memoryIdentity(), coordinatorKey: () => undefined, access: 'public' })
    const response = await gateway(new Request(`http://node/ipfs/${cid}`))
    assert.equal(response.status, 200)
    assert.equal(await response.text(), 'for everyone')
    assert.equal((await gateway(new Request('http://node/ipfs/bafkqaaa', { method: 'HEAD' }))).status, 200)
  })

  it('peer mode takes peer tokens and coordinator-signed share links for their CID and path', async () => {
    const blocks = new MemoryBlockstore()
    let root = ''
    let rootV1 = ''
    for await (const entry of importEntries(
      [
        { path: 'd/pub/a.txt', content: new TextEncoder().encode('a') },
        { path: 'd/priv/b.txt', content: new TextEncoder().encode('b') },
      ],
      blocks,
    )) {
      if (entry.path !== 'd') continue
      root = entry.cid.toString()
      rootV1 = entry.cid.toV1().toString()
    }
    const keys = coordinatorKeys()
    const stranger = coordinatorKeys()
    const identity = memoryIdentity()
    const gateway = createNodeGateway({ source: blocks, identity, coordinatorKey: () => keys.raw })
    const get = (path: string, init?: RequestInit) => gateway(new Request(`http://node/ipfs/${root}/${path}`, init))
    const expiresAt = Math.floor(Date.now() / 1000) + 60
    const grant = { cid: rootV1, path: ['pub'], accountId: 'acct', expiresAt }
    const share = await issueShareToken(keys.privateKey, grant)

    assert.equal((await get('pub/a.txt')).status, 401, 'neither token nor link')
    const peer = (await issuePeerToken(keys.privateKey, 'pfnode', identity.id, 60)).token
    assert.equal((await get('priv/b.txt', { headers: { authorization: `Bearer ${peer}` } })).status, 200)
    const elsewhere = (await issuePeerToken(keys.privateKey, 'pfnode', 'pfanothernode', 60)).token
    assert.equal((await get('priv/b.txt', { headers: { authorization: `Bearer ${elsewhere}` } })).status, 401, 'a token for another node')
    const forCoordinator = (await issuePeerToken(keys.privateKey, 'pfnode', COORDINATOR_AUDIENCE, 60)).token
    assert.equal((await get('priv/b.txt', { headers: { authorization: `Bearer ${forCoordinator}` } })).status, 401, 'a token for the coordinator')
    const ok = await get(`pub/a.txt?share=${share}`)
    assert.equal(ok.status, 200)
    assert.equal(await ok.text(), 'a')
    assert.equal((await get(`priv/b.txt?share=${share}`)).status, 403, 'outside the path prefix')
    const foreign = await issueShareToken(stranger.privateKey, grant)
    const refused = await get(`pub/a.txt?share=${foreign}`)
    assert.equal(refused.status, 401, 'signed by another coordinator')
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'ERR_SHARE_INVALID')
    const expired = await issueShareToken(keys.privateKey, { ...grant, expiresAt: expiresAt - 120 })
    const late = await get(`pub/a.txt?share=${expired}`)
    assert.equal(late.status, 401)
    assert.equal(((await late.json()) as { error: { code: string } }).error.code, 'ERR_SHARE_EXPIRED')
  })

  it('answers the identity challenge with a domain-separated signature, in either access mode; a bad nonce is a 400', async () => {
    for (const access of ['peer', 'public'] as const) {
      const identity = memoryIdentity()
      const gateway = createNodeGateway({ source: new MemoryBlockstore(), identity, coordinatorKey: () => undefined, access })
      const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
      const response = await gateway(new Request(`http://node/.well-known/pinfold/identity?nonce=${nonce}`))
      assert.equal(response.status, 200)
      const answer = (await response.json()) as { nodeId: string; signature: string }
      assert.equal(answer.nodeId, identity.id)
      assert.ok(checkIdentityAnswer(identity.publicKey, identity.id, nonce, answer))
      assert.equal(checkIdentityAnswer(identity.publicKey, identity.id, `${nonce}x`, answer), false, 'bound to the nonce')
      assert.equal(checkIdentityAnswer(memoryIdentity().publicKey, identity.id, nonce, answer), false, 'bound to the key')
      // never a raw signature of the nonce: that is what a join signs
      const { verifyNodeSignature } = await import('../../src/cluster/index.ts')
      assert.equal(verifyNodeSignature(identity.publicKey, new TextEncoder().encode(nonce), Buffer.from(answer.signature, 'base64url')), false)
      for (const bad of ['', '?nonce=short', '?nonce=%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00']) {
        const refused = await gateway(new Request(`http://node/.well-known/pinfold/identity${bad}`))
        assert.equal(refused.status, 400, bad)
        assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'ERR_INVALID_ARGUMENT')
      }
    }
  })
})
