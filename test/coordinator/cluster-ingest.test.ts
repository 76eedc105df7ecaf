import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  clusterSecret,
  loadOrCreateNodeIdentity,
  type NodeIdentity,
  type NodeMessage,
} from '../../src/cluster/index.ts'
import { loadCoordinatorConfig } from '../../src/coordinator/config/load-config.ts'
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/main.ts'
import { b64, FakeNode, fromB64, randomCid } from '../helpers/fake-node.ts'
import { adminTokenOf } from './seed-content.ts'

const SECRET = 'test-cluster-secret-0123456789'
const GB = 2 ** 30

async function until<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await fn()
    if (value !== undefined) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('cluster: drop-folder ingest (`ingested` from a scripted node)', () => {
  let dir: string
  let coordinator: RunningCoordinator
  let adminToken: string
  let adminAccountId: string
  let ingester: FakeNode
  let ingesterId: NodeIdentity
  let other: FakeNode
  let otherId: NodeIdentity

  async function joinCluster(identity: NodeIdentity, gatewayUrl: string): Promise<FakeNode> {
    const node = new FakeNode(coordinator.url)
    const challenge = await node.next('challenge')
    const nonce = fromB64(challenge.nonce)
    node.send({
      type: 'join',
      protocol: challenge.protocol,
      nodeId: identity.id,
      publicKey: b64(identity.publicKey),
      signature: b64(identity.sign(nonce)),
      proof: b64(clusterSecret(SECRET).prove('join', nonce, identity.publicKey)),
      nodeNonce: b64(crypto.getRandomValues(new Uint8Array(32))),
      name: `node-${identity.id.slice(0, 6)}`,
      version: 'test',
      tags: {},
      cursor: 0,
      gatewayUrl,
    })
    await node.next('welcome')
    node.send({
      type: 'report',
      storage: [{ id: 'p1', weight: 1, maxSize: 0, used: 0, available: 10 * GB }],
      pins: 0,
      queued: 0,
      failed: 0,
      version: 'test',
      gatewayUrl,
    })
    return node
  }

  const registry = () => coordinator.components.registry

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pinfold-ingest-'))
    const config = await loadCoordinatorConfig({
      flags: { dataDir: dir, listen: '127.0.0.1:0' },
      env: {
        PINFOLD_LOG_LEVEL: 'silent',
        PINFOLD_AUTH_FAILED_LOGIN_DELAY_MS: '0',
        PINFOLD_CLUSTER_SECRET: SECRET,
        PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: '0.1',
        PINFOLD_CLUSTER_DEFAULT_REPLICATION_MIN: '2',
        PINFOLD_CLUSTER_DEFAULT_REPLICATION_MAX: '2',
      },
    })
    coordinator = await startCoordinator(config)
    adminToken = await adminTokenOf(coordinator)
    const admin = coordinator.adminCredentials
    assert.ok(admin)
    adminAccountId = (await registry().accounts.getByEmail(admin.email))?.id ?? ''
    assert.ok(adminAccountId)
    ingesterId = await loadOrCreateNodeIdentity(await mkdtemp(join(dir, 'node-')))
    otherId = await loadOrCreateNodeIdentity(await mkdtemp(join(dir, 'node-')))
    ingester = await joinCluster(ingesterId, 'http://127.0.0.1:9101')
    other = await joinCluster(otherId, 'http://127.0.0.1:9102')
    // both nodes are usable before anything is ingested
    await until(async () => {
      const nodes = await coordinator.components.cluster.listNodes()
      return nodes.filter((n) => n.state === 'up').length === 2 ? true : undefined
    }, 'two nodes up')
  })

  after(async () => {
    ingester?.close()
    other?.close()
    await coordinator?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('registers the file at /Library/incoming/<path> with its mtime, the ingesting node pinned, another node allocated', async () => {
    const cid = await randomCid()
    const mtime = Date.UTC(2024, 0, 2, 3, 4, 5)
    ingester.send({ type: 'ingested', path: 'drop/a.txt', cid, size: 1234, mtime })

    const entry = await until(() => registry().entries.getByPath(adminAccountId, '/Library/incoming/drop/a.txt'), 'the entry')
    assert.equal(entry.cid, cid)
    assert.equal(entry.size, 1234)
    assert.equal(entry.mtime, mtime)
    assert.equal(entry.kind, 'file')

    const pin = await registry().pins.get(cid)
    assert.equal(pin?.replicationMin, 2, 'new pins get cluster.defaultReplicationMin')
    assert.equal(pin?.replicationMax, 2)

    // the ingesting node holds it already; the allocator adds the second copy elsewhere
    const own = await until(() => registry().allocations.get(cid, ingesterId.id), 'own allocation')
    assert.equal(own.status, 'pinned')
    const change = await other.next('changes', (m) => m.changes.some((c) => c.cid === cid))
    assert.equal(change.changes.find((c) => c.cid === cid)?.action, 'pin')
    const allocations = await registry().allocations.listForCid(cid)
    assert.deepEqual(allocations.map((a) => [a.nodeId, a.status]).sort(), [
      [ingesterId.id, 'pinned'],
      [otherId.id, 'queued'],
    ].sort())
    // the ingesting node is never asked to fetch what it has
    assert.equal(ingester.received.some((m) => m.type === 'changes' && m.changes.some((c) => c.cid === cid)), false)

    // the other node finds the ingesting node as a source
    other.send({ type: 'locate', cids: [cid] })
    const sources = await other.next('sources')
    assert.deepEqual(sources.sources, [{ cid, urls: ['http://127.0.0.1:9101'] }])

    // the status API lists both
    const response = await fetch(`${coordinator.url}/api/v1/pins/${cid}/status`, { headers: { authorization: `Bearer ${adminToken}` } })
    const status = (await response.json()) as { allocations: { nodeId: string; status: string }[] }
    assert.equal(status.allocations.find((a) => a.nodeId === ingesterId.id)?.status, 'pinned')
  })

  it('is idempotent: a resend after reconnect adds no version and no allocation change', async () => {
    const cid = await randomCid()
    const message: NodeMessage = { type: 'ingested', path: 'again/b.bin', cid, size: 10, mtime: 1_700_000_000_000 }
    ingester.send(message)
    await until(async () => (await registry().allocations.get(cid, ingesterId.id))?.status === 'pinned' || undefined, 'first ingest')
    const seqBefore = (await registry().allocations.get(cid, ingesterId.id))?.seq
    ingester.send(message)
    ingester.send(message)
    // a later frame is handled after them (frames are processed in order)
    const marker = await randomCid()
    ingester.send({ type: 'ingested', path: 'again/marker', cid: marker, size: 1, mtime: 1 })
    await until(() => registry().allocations.get(marker, ingesterId.id), 'marker ingested')
    const dir = await registry().entries.getByPath(adminAccountId, '/Library/incoming/again')
    assert.ok(dir)
    const versions = await registry().entries.versions(adminAccountId, dir.id, 'b.bin')
    assert.equal(versions.length, 1)
    assert.equal((await registry().allocations.get(cid, ingesterId.id))?.seq, seqBefore)
  })

  it('a newer mtime at the same path wins; the named account is used; bad input keeps the session open', async () => {
    const older = await randomCid()
    const newer = await randomCid()
    ingester.send({ type: 'ingested', path: 'v.txt', cid: newer, size: 2, mtime: 2_000_000 })
    ingester.send({ type: 'ingested', path: 'v.txt', cid: older, size: 1, mtime: 1_000_000 })
    await until(() => registry().allocations.get(older, ingesterId.id), 'both versions')
    assert.equal((await registry().entries.getByPath(adminAccountId, '/Library/incoming/v.txt'))?.cid, newer)

    const user = await registry().accounts.create({ email: 'dropper@example.com', password: 'a long enough password' })
    const cid = await randomCid()
    ingester.send({ type: 'ingested', path: 'mine.txt', cid, size: 3, mtime: 5, account: 'dropper@example.com' })
    const entry = await until(() => registry().entries.getByPath(user.id, '/Library/incoming/mine.txt'), 'entry of the named account')
    assert.equal(entry.cid, cid)
    assert.equal(await registry().entries.getByPath(adminAccountId, '/Library/incoming/mine.txt'), undefined)

    // unknown account and an invalid path: logged and skipped, the session stays open
    const lost = await randomCid()
    ingester.send({ type: 'ingested', path: 'x.txt', cid: lost, size: 1, mtime: 1, account: 'nobody@example.com' })
    ingester.send({ type: 'ingested', path: 'a/../b', cid: lost, size: 1, mtime: 1 })
    const after = await randomCid()
    ingester.send({ type: 'ingested', path: 'after.txt', cid: after, size: 1, mtime: 1 })
    await until(() => registry().entries.getByPath(adminAccountId, '/Library/incoming/after.txt'), 'a later ingest on the same session')
    assert.equal(await registry().pins.get(lost), undefined)
  })

  it('/metrics shows nodes online and down and under-replicated pins', async () => {
    const text = await (await fetch(`${coordinator.url}/metrics`)).text()
    assert.match(text, /^pinfold_storage_nodes_online 2$/m)
    assert.match(text, /^pinfold_storage_nodes_down 0$/m)
    assert.match(text, /^pinfold_pins_under_replicated \d+$/m)
  })

  it('uploads get the default replication too', async () => {
    const form = new FormData()
    form.append('file', new Blob([new TextEncoder().encode(`replicated ${Date.now()}`)]), 'r.txt')
    const response = await fetch(`${coordinator.url}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` }, body: form })
    assert.equal(response.status, 201, await response.clone().text())
    const body = (await response.json()) as { upload: { entries?: { cid: string }[] } }
    const cid = body.upload.entries?.[0]?.cid
    assert.ok(cid)
    const pin = await registry().pins.get(cid)
    assert.equal(pin?.replicationMin, 2)
    assert.equal(pin?.replicationMax, 2)
  })
})
