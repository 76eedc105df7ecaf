import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { pino } from 'pino'
import { answerIdentityChallenge, type NodeIdentity } from '../../src/cluster/index.ts'
import { GatewayVouching, type IdentityFetch } from '../../src/coordinator/cluster/gateway-vouching.ts'
import { openRegistry, type Registry } from '../../src/registry/index.ts'
import { b64, memoryIdentity } from '../helpers/fake-node.ts'

/** Serves the identity challenge of whichever identity answers at each URL (absent: connection refused). */
function fakeNetwork(answers: Map<string, NodeIdentity>, requested: string[]): IdentityFetch {
  return async (url) => {
    requested.push(url)
    const target = new URL(url)
    const identity = answers.get(target.origin)
    if (identity === undefined) throw new Error('connection refused')
    const nonce = target.searchParams.get('nonce') ?? ''
    return { status: 200, body: JSON.stringify(answerIdentityChallenge(identity, nonce)) }
  }
}

describe('gateway vouching: only a URL answered with the node’s key becomes its address', () => {
  let dir: string
  let registry: Registry
  const answers = new Map<string, NodeIdentity>()
  const requested: string[] = []
  const changed: string[] = []
  let vouching: GatewayVouching

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pinfold-vouching-'))
    registry = await openRegistry(`sqlite:${join(dir, 'registry.sqlite')}`)
    vouching = new GatewayVouching({
      registry,
      logger: pino({ level: 'silent' }),
      onChange: (id) => changed.push(id),
      retryAfterMs: 50,
      fetch: fakeNetwork(answers, requested),
    })
  })
  after(async () => {
    await registry.close()
    await rm(dir, { recursive: true, force: true })
  })

  async function registered(): Promise<NodeIdentity> {
    const identity = memoryIdentity()
    await registry.nodes.register({ id: identity.id, publicKey: b64(identity.publicKey), name: 'n', address: null })
    return identity
  }
  const address = async (id: string) => (await registry.nodes.get(id))?.address

  it('verifies a URL the node answers at; a repeated claim is not fetched again', async () => {
    const node = await registered()
    answers.set('http://10.0.0.1:4001', node)
    await vouching.claim(node.id, 'http://10.0.0.1:4001', { fresh: true })
    assert.equal(await address(node.id), 'http://10.0.0.1:4001')
    assert.equal(vouching.claimOf(node.id)?.state, 'verified')
    assert.ok(changed.includes(node.id))
    const before = requested.length
    await vouching.claim(node.id, 'http://10.0.0.1:4001')
    assert.equal(requested.length, before, 'reports repeating the claim cost nothing')
  })

  it('a new URL withdraws the old address; one answered by another key or not at all is never recorded', async () => {
    const node = await registered()
    const other = await registered()
    answers.set('http://10.0.0.2:4001', node)
    answers.set('http://10.0.0.3:4001', other)
    await vouching.claim(node.id, 'http://10.0.0.2:4001', { fresh: true })
    assert.equal(await address(node.id), 'http://10.0.0.2:4001')
    await vouching.claim(node.id, 'http://10.0.0.3:4001')
    assert.equal(await address(node.id), null, "another node's gateway")
    assert.equal(vouching.claimOf(node.id)?.state, 'unverified')
    assert.match(vouching.claimOf(node.id)?.error ?? '', /not signed by this node/)
    await vouching.claim(node.id, 'http://10.0.0.9:4001')
    assert.equal(await address(node.id), null, 'nobody answers')
    assert.match(vouching.claimOf(node.id)?.error ?? '', /no answer/)
  })

  it('a failed URL is checked again once the retry delay passed', async () => {
    const node = await registered()
    await vouching.claim(node.id, 'http://10.0.0.4:4001', { fresh: true })
    assert.equal(await address(node.id), null)
    answers.set('http://10.0.0.4:4001', node) // its gateway came up late
    await vouching.claim(node.id, 'http://10.0.0.4:4001')
    assert.equal(await address(node.id), null, 'not before the delay')
    await new Promise((resolve) => setTimeout(resolve, 60))
    await vouching.claim(node.id, 'http://10.0.0.4:4001')
    assert.equal(await address(node.id), 'http://10.0.0.4:4001')
  })
})
