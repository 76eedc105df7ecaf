import assert from 'node:assert/strict'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import {
  clusterSecret,
  loadOrCreateNodeIdentity,
  type NodeIdentity,
  type NodeMessage,
  verifyPeerToken,
} from '../../src/cluster/index.ts'
import { loadCoordinatorConfig } from '../../src/coordinator/config/load-config.ts'
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/main.ts'
import { PinSet, SyncInitiator } from '../../src/sync/index.ts'
import { b64, FakeNode, fromB64, randomCid } from '../helpers/fake-node.ts'
import { adminTokenOf } from './seed-content.ts'

const SECRET = 'test-cluster-secret-0123456789'
const GB = 2 ** 30

describe('cluster control protocol (in-process coordinator, real WebSocket)', () => {
  let dir: string
  let coordinator: RunningCoordinator
  let adminToken: string
  const identities: NodeIdentity[] = []

  async function call(method: string, path: string, body?: unknown) {
    const response = await fetch(`${coordinator.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await response.text()
    // biome-ignore lint/suspicious/noExplicitAny: test responses are checked field by field
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as any }
  }

  /** Connects and answers the challenge; `tamper` can forge parts of the join. */
  async function joinCluster(
    identity: NodeIdentity,
    options: { secret?: string; cursor?: number; gatewayUrl?: string; tamper?: (join: Extract<NodeMessage, { type: 'join' }>) => void } = {},
  ): Promise<{ node: FakeNode; nodeNonce: Uint8Array; nonce: Uint8Array }> {
    const node = new FakeNode(coordinator.url)
    const challenge = await node.next('challenge')
    const nonce = fromB64(challenge.nonce)
    const nodeNonce = crypto.getRandomValues(new Uint8Array(32))
    const message: Extract<NodeMessage, { type: 'join' }> = {
      type: 'join',
      protocol: challenge.protocol,
      nodeId: identity.id,
      publicKey: b64(identity.publicKey),
      signature: b64(identity.sign(nonce)),
      proof: b64(clusterSecret(options.secret ?? SECRET).prove('join', nonce, identity.publicKey)),
      nodeNonce: b64(nodeNonce),
      name: `node-${identity.id.slice(0, 6)}`,
      version: 'test',
      tags: { region: 'eu' },
      cursor: options.cursor ?? 0,
      ...(options.gatewayUrl ? { gatewayUrl: options.gatewayUrl } : {}),
    }
    options.tamper?.(message)
    node.send(message)
    return { node, nodeNonce, nonce }
  }

  function report(node: FakeNode, available = 10 * GB): void {
    node.send({
      type: 'report',
      storage: [{ id: 'p1', weight: 1, maxSize: 0, used: 0, available }],
      pins: 0,
      queued: 0,
      failed: 0,
      version: 'test',
    })
  }

  async function identity(): Promise<NodeIdentity> {
    const home = await mkdtemp(join(dir, 'node-'))
    const id = await loadOrCreateNodeIdentity(home)
    identities.push(id)
    return id
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pinfold-cluster-'))
    const config = await loadCoordinatorConfig({
      flags: { dataDir: dir, listen: '127.0.0.1:0' },
      env: {
        PINFOLD_LOG_LEVEL: 'silent',
        PINFOLD_AUTH_FAILED_LOGIN_DELAY_MS: '0',
        PINFOLD_CLUSTER_SECRET: SECRET,
        PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: '0.1',
      },
    })
    coordinator = await startCoordinator(config)
    adminToken = await adminTokenOf(coordinator)
    assert.ok(adminToken)
  })
  after(async () => {
    await coordinator?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('creates the coordinator key (0600); the configured secret is not written', async () => {
    assert.equal((await stat(join(dir, 'coordinator-key.pem'))).mode & 0o777, 0o600)
    await assert.rejects(stat(join(dir, 'cluster-secret')))
    assert.equal(coordinator.generatedClusterSecret, undefined)
  })

  it('welcomes a node with the secret, then its change feed delivers allocations; status and locate work', async () => {
    const id = await identity()
    const { node, nodeNonce, nonce } = await joinCluster(id, { gatewayUrl: 'http://127.0.0.1:9/' })
    const welcome = await node.next('welcome')
    assert.equal(welcome.nodeId, id.id)
    assert.ok(clusterSecret(SECRET).check('welcome', fromB64(welcome.coordinatorProof), nodeNonce, nonce), 'the coordinator proves the secret')
    assert.equal(await verifyPeerToken(fromB64(welcome.coordinatorKey), welcome.peerToken, 'coordinator'), id.id)
    assert.ok(welcome.peerTokenExpiresAt > Date.now())
    report(node)

    const nodes = await call('GET', '/api/v1/nodes')
    assert.equal(nodes.status, 200)
    const listed = nodes.body.nodes.find((n: { id: string }) => n.id === id.id)
    assert.ok(listed)
    assert.equal(listed.connected, true)
    assert.deepEqual(listed.tags, { region: 'eu' })

    // a pin (as an upload creates it) gets allocated and pushed at once
    const cid = await randomCid()
    await coordinator.components.registry.pins.ensure(cid, { replicationMin: 1, replicationMax: 1, size: 1000 })
    const changes = await node.next('changes', (m) => m.changes.some((c) => c.cid === cid))
    const change = changes.changes.find((c) => c.cid === cid)
    assert.equal(change?.action, 'pin')
    assert.equal(change?.size, 1000)
    node.send({ type: 'ack', seq: change?.seq ?? 0 })
    node.send({ type: 'status', updates: [{ cid, status: 'pinned', attempts: 1 }] })

    // status API shows the node's report
    let status: Awaited<ReturnType<typeof call>> | undefined
    for (let i = 0; i < 50; i++) {
      status = await call('GET', `/api/v1/pins/${cid}/status`)
      if (status.body?.allocations?.[0]?.status === 'pinned') break
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.equal(status?.status, 200)
    assert.deepEqual(
      status?.body.allocations.map((a: { nodeId: string; status: string }) => [a.nodeId, a.status]),
      [[id.id, 'pinned']],
    )
    assert.equal((await coordinator.components.registry.nodes.get(id.id))?.cursor, change?.seq, 'ack stored as the cursor')

    // the gateway takes the peer token
    const probe = await fetch(`${coordinator.url}/ipfs/bafkqaaa`, { headers: { authorization: `Bearer ${welcome.peerToken}` } })
    assert.equal(probe.status, 200)
    await probe.arrayBuffer()

    // locate: a second node learns the first one (pinned) and the coordinator (origin holds the block)
    const bytes = new TextEncoder().encode('origin block')
    const originCid = CID.create(1, raw.code, await sha256.digest(bytes))
    await coordinator.components.repo.blocks.put(originCid, bytes)
    const other = await identity()
    const second = (await joinCluster(other)).node
    await second.next('welcome')
    second.send({ type: 'locate', cids: [cid, originCid.toString()] })
    const sources = await second.next('sources')
    // the first node's claimed gateway never answered the identity challenge: it is not named
    assert.deepEqual(sources.sources, [
      { cid, urls: [] },
      { cid: originCid.toString(), urls: [coordinator.url] },
    ])
    assert.deepEqual(Object.keys(sources.tokens ?? {}), [coordinator.url])
    assert.equal(await verifyPeerToken(fromB64(welcome.coordinatorKey), sources.tokens?.[coordinator.url] ?? '', 'coordinator'), other.id)

    // anti-entropy on connect: the node initiates over what it holds (nothing) and learns what it must pin
    assert.equal((await node.next('sync-request')).reason, 'connect')
    const initiator = new SyncInitiator(PinSet.empty())
    node.send({ type: 'sync', session: 's1', payload: b64(initiator.initiate()) })
    const need: string[] = []
    for (;;) {
      const reply = await node.next('sync', (m) => m.session === 's1')
      const result = initiator.reconcile(fromB64(reply.payload))
      for (const c of result.need) need.push(CID.decode(c).toString())
      if (!result.reply) break
      node.send({ type: 'sync', session: 's1', payload: b64(result.reply) })
    }
    assert.deepEqual(need, [cid])
    node.send({ type: 'sync-done', session: 's1', need: need.length, have: 0 })
    node.close()
    second.close()
  })

  it('refuses a wrong cluster secret', async () => {
    const { node } = await joinCluster(await identity(), { secret: 'not-the-cluster-secret' })
    const refused = await node.next('refused')
    assert.equal(refused.code, 'ERR_CLUSTER_SECRET')
    assert.equal(await node.closed, 4001)
  })

  it('refuses a forged identity: an id not derived from the key, or a signature by another key', async () => {
    const [mine, theirs] = [await identity(), await identity()]
    const wrongId = await joinCluster(mine, { tamper: (m) => (m.nodeId = theirs.id) })
    assert.equal((await wrongId.node.next('refused')).code, 'ERR_FORGED_IDENTITY')
    // claims theirs (id + public key) but can only sign with its own key
    const node = new FakeNode(coordinator.url)
    const challenge = await node.next('challenge')
    const nonce = fromB64(challenge.nonce)
    node.send({
      type: 'join',
      protocol: challenge.protocol,
      nodeId: theirs.id,
      publicKey: b64(theirs.publicKey),
      signature: b64(mine.sign(nonce)),
      proof: b64(clusterSecret(SECRET).prove('join', nonce, theirs.publicKey)),
      nodeNonce: b64(new Uint8Array(32)),
      name: 'forger',
      version: 'test',
      tags: {},
      cursor: 0,
    })
    assert.equal((await node.next('refused')).code, 'ERR_FORGED_IDENTITY')
  })

  it('refuses a revoked node and closes its session', async () => {
    const id = await identity()
    const first = (await joinCluster(id)).node
    await first.next('welcome')
    const revoked = await call('DELETE', `/api/v1/nodes/${id.id}`)
    assert.equal(revoked.status, 200)
    assert.equal(revoked.body.status, 'revoked')
    assert.equal(await first.closed, 4004)
    const again = (await joinCluster(id)).node
    assert.equal((await again.next('refused')).code, 'ERR_NODE_REVOKED')
  })

  it('resumes the feed from the cursor: only later changes after a reconnect', async () => {
    const id = await identity()
    const registry = coordinator.components.registry
    const first = (await joinCluster(id)).node
    await first.next('welcome')
    const [c1, c2] = [await randomCid(), await randomCid()]
    await registry.allocations.allocate(c1, id.id)
    coordinator.components.cluster.notify([id.id])
    const seen = await first.next('changes', (m) => m.changes.some((c) => c.cid === c1))
    const cursor = seen.changes.find((c) => c.cid === c1)?.seq ?? 0
    first.send({ type: 'ack', seq: cursor })
    first.close()
    await first.closed
    // changed while the node is away
    await registry.allocations.deallocate(c1, id.id)
    await registry.allocations.allocate(c2, id.id)
    const second = (await joinCluster(id, { cursor })).node
    await second.next('welcome')
    const resumed = await second.next('changes')
    assert.deepEqual(
      resumed.changes.map((c) => [c.cid, c.action]),
      [
        [c1, 'unpin'],
        [c2, 'pin'],
      ],
    )
    assert.ok(resumed.changes.every((c) => c.seq > cursor))
    second.close()
  })

  it('a newer session for the same node replaces the older one', async () => {
    const id = await identity()
    const first = (await joinCluster(id)).node
    await first.next('welcome')
    const second = (await joinCluster(id)).node
    await second.next('welcome')
    assert.equal(await first.closed, 4003)
    second.close()
  })
})
