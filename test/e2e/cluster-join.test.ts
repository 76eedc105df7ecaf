import assert from 'node:assert/strict'
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  type CoordinatorMessage,
  clusterSecret,
  loadOrCreateNodeIdentity,
  type NodeMessage,
  parseCoordinatorMessage,
} from '../../src/cluster/index.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { type ClusterApi, clusterApi, killAll, type NodeProcess, startNodeProcess, until } from '../helpers/node-process.ts'

/** Issue 4: a wrong secret and a forged identity are refused — against a real `pinfold serve` with a real node joined. */
const SECRET = 'e2e-cluster-secret-join-0123456789'

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64')

/** One scripted control session: connects, answers the challenge with `join(nonce)`, collects what comes back until close. */
async function scriptedJoin(
  url: string,
  join: (nonce: Uint8Array) => Extract<NodeMessage, { type: 'join' }>,
): Promise<{ received: CoordinatorMessage[]; closeCode: number }> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/nodes/connect`)
  const received: CoordinatorMessage[] = []
  const closed = new Promise<number>((resolve) => ws.addEventListener('close', (event) => resolve(event.code)))
  ws.addEventListener('message', (event) => {
    const message = parseCoordinatorMessage(String(event.data))
    received.push(message)
    if (message.type === 'challenge') ws.send(JSON.stringify(join(new Uint8Array(Buffer.from(message.nonce, 'base64')))))
  })
  const timer = setTimeout(() => ws.close(), 10_000)
  const closeCode = await closed
  clearTimeout(timer)
  return { received, closeCode }
}

describe('joining a real coordinator: wrong secret and forged identities are refused', { timeout: 60_000 }, () => {
  let coordinator: CoordinatorProcess
  let api: ClusterApi
  let workDir: string
  const started: NodeProcess[] = []
  let member: NodeProcess

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'pinfold-e2e-join-'))
    coordinator = await startCoordinatorProcess({ env: { PINFOLD_CLUSTER_SECRET: SECRET, PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: '0.3' } })
    api = clusterApi(coordinator.url, await coordinator.token())
    member = await startNodeProcess({ join: coordinator.url, secret: SECRET, repo: join(workDir, 'member'), args: ['--name', 'member', '--report-interval', '300ms'] })
    started.push(member)
    await until(async () => ((await api.node(member.id))?.status === 'online' ? true : undefined), 15_000, () => member.output())
  })

  after(async () => {
    await killAll(started)
    await coordinator?.stop()
    await coordinator?.cleanup()
    if (workDir) await rm(workDir, { recursive: true, force: true })
  })

  it('a real `pinfold node` with a wrong --secret is refused with ERR_CLUSTER_SECRET and never registered', async () => {
    const intruder = await startNodeProcess({
      join: coordinator.url,
      secret: 'not-the-cluster-secret-at-all',
      repo: join(workDir, 'intruder'),
      args: ['--name', 'intruder', '--report-interval', '300ms'],
    })
    started.push(intruder)
    await until(() => (/ERR_CLUSTER_SECRET/.test(intruder.output()) ? true : undefined), 10_000, () => `refusal logged:\n${intruder.output()}`)
    assert.match(intruder.output(), /coordinator refused this node/)
    assert.match(coordinator.output(), /wrong cluster secret/)
    assert.equal(await api.node(intruder.id), undefined, 'the refused node is not in the registry')
    assert.ok(!(await api.nodes()).some((n) => n.id === intruder.id))
    await intruder.stop()
  })

  it('a join claiming the member’s id with another key, or signed by another key, is refused with ERR_FORGED_IDENTITY', async () => {
    const attacker = await loadOrCreateNodeIdentity(workDir)
    // the member's public key is public knowledge (it is sent in every join); its private key stays in its repo
    const memberPem = await readFile(join(member.repo, 'node-identity.pem'), 'utf8')
    const jwk = createPublicKey(createPrivateKey(memberPem)).export({ format: 'jwk' }) as { x: string }
    const memberPublicKey = new Uint8Array(Buffer.from(jwk.x, 'base64url'))
    const secret = clusterSecret(SECRET)
    const joinAs = (publicKey: Uint8Array) => (nonce: Uint8Array) =>
      ({
        type: 'join',
        protocol: 1,
        nodeId: member.id,
        publicKey: b64(publicKey),
        signature: b64(attacker.sign(nonce)),
        // the attacker knows the cluster secret: only the identity is forged
        proof: b64(secret.prove('join', nonce, publicKey)),
        nodeNonce: b64(crypto.getRandomValues(new Uint8Array(32))),
        name: 'member',
        version: 'forged',
        tags: {},
        cursor: 0,
      }) as const

    for (const [what, publicKey] of [
      ['member id with the attacker’s key', attacker.publicKey],
      ['member id and key, signature by the attacker', memberPublicKey],
    ] as const) {
      const { received, closeCode } = await scriptedJoin(coordinator.url, joinAs(publicKey))
      const refused = received.find((m) => m.type === 'refused')
      assert.equal(refused?.type === 'refused' ? refused.code : undefined, 'ERR_FORGED_IDENTITY', `${what}: ${JSON.stringify(received)}`)
      assert.ok(!received.some((m) => m.type === 'welcome'), what)
      assert.equal(closeCode, 4001, what)
    }
    // the real member keeps its session
    await new Promise((resolve) => setTimeout(resolve, 700))
    const view = await api.node(member.id)
    assert.equal(view?.status, 'online')
    assert.equal(view?.connected, true)
    assert.doesNotMatch(member.output(), /replaced|refused/)
    assert.ok(!(await api.nodes()).some((n) => n.id === attacker.id), 'the attacker key is not registered')
  })
})
