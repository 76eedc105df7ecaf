import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { loadOrCreateNodeIdentity } from '../../src/cluster/index.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { FakeNode, fromB64, signedJoin } from '../helpers/fake-node.ts'
import { type NodeProcess, startNodeProcess, until } from '../helpers/node-process.ts'
import { peerTokenFor } from '../helpers/peer-token.ts'

const SECRET = 'e2e-cluster-secret-revocation-0123456789'
/** The identity CID every gateway answers: a probe of whether a token is accepted. */
const PROBE = 'bafkqaaa'

/**
 * Issue 9 item 6 (revocation part): a revoked node's peer token, valid for up to its
 * lifetime, must be refused by the other nodes within seconds — against a real
 * `pinfold serve` and a real `pinfold node`, with the revoked node scripted to keep its token.
 */
describe('a revoked node’s peer token is refused by the other nodes within seconds', { timeout: 60_000 }, () => {
  let workDir: string
  let coordinator: CoordinatorProcess
  let honest: NodeProcess
  let rogue: FakeNode
  let rogueId: string
  /** A member that stays: its token shows when a node accepts peer tokens at all. */
  let witness: FakeNode
  let witnessId: string

  /** A peer token for `subject` at the node `audience`, as the coordinator hands them out in `sources`. */
  async function tokenFor(subject: string, audience: string): Promise<string> {
    return peerTokenFor(coordinator.dataDir, subject, audience)
  }

  async function joinScripted(name: string): Promise<{ node: FakeNode; id: string }> {
    const identity = await loadOrCreateNodeIdentity(await mkdtemp(join(workDir, `${name}-`)))
    const node = new FakeNode(coordinator.url)
    const challenge = await node.next('challenge')
    node.send(signedJoin(identity, fromB64(challenge.nonce), SECRET, name))
    await node.next('welcome')
    return { node, id: identity.id }
  }

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'pinfold-revocation-'))
    coordinator = await startCoordinatorProcess({ env: { PINFOLD_CLUSTER_SECRET: SECRET, PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: '0.3' } })
    honest = await startNodeProcess({ join: coordinator.url, secret: SECRET, repo: join(workDir, 'honest'), args: ['--name', 'honest', '--report-interval', '300ms'] })
    ;({ node: rogue, id: rogueId } = await joinScripted('rogue'))
    ;({ node: witness, id: witnessId } = await joinScripted('witness'))
  })
  after(async () => {
    rogue?.close()
    witness?.close()
    await honest?.stop()
    await coordinator?.stop()
    await coordinator?.cleanup()
    await rm(workDir, { recursive: true, force: true })
  })

  const probe = async (token: string) =>
    (await fetch(`${honest.gatewayUrl}/ipfs/${PROBE}?format=raw`, { headers: { authorization: `Bearer ${token}` } })).status

  it('the token works until the node is revoked, and is refused within 5 s after', async () => {
    const rogueToken = await tokenFor(rogueId, honest.id)
    // the honest node knows the coordinator's key once it was welcomed
    await until(async () => ((await probe(rogueToken)) === 200 ? true : undefined), 10_000, () => 'the honest node to accept peer tokens')
    const admin = await coordinator.token()
    const revoked = await fetch(`${coordinator.url}/api/v1/nodes/${rogueId}`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } })
    assert.equal(revoked.status, 200)
    const started = Date.now()
    await until(async () => ((await probe(rogueToken)) === 401 ? true : undefined), 5_000, () => 'the revoked token to be refused')
    const elapsed = Date.now() - started
    assert.ok(elapsed < 5_000, `refused after ${elapsed} ms`)
  })

  it('a node that connects after the revocation refuses the token too', async () => {
    const late = await startNodeProcess({ join: coordinator.url, secret: SECRET, repo: join(workDir, 'late'), args: ['--name', 'late', '--report-interval', '300ms'] })
    try {
      const rogueToken = await tokenFor(rogueId, late.id)
      const witnessToken = await tokenFor(witnessId, late.id)
      const status = async (token: string) => (await fetch(`${late.gatewayUrl}/ipfs/${PROBE}?format=raw`, { headers: { authorization: `Bearer ${token}` } })).status
      // once it accepts a member's token it was welcomed; from then on the revoked token is refused
      await until(async () => ((await status(witnessToken)) === 200 ? true : undefined), 10_000, () => 'the late node to accept peer tokens')
      await until(async () => ((await status(rogueToken)) === 401 ? true : undefined), 5_000, () => 'the late node to refuse the revoked token')
      assert.equal(await status(witnessToken), 200)
    } finally {
      await late.stop()
    }
  })
})
