import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import {
  clusterSecret,
  loadOrCreateNodeIdentity,
  type NodeIdentity,
  type NodeMessage,
} from '../../src/cluster/index.ts'
import { CID } from 'multiformats/cid'
import { loadCoordinatorConfig } from '../../src/coordinator/config/load-config.ts'
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/main.ts'
import { importBytes, MemoryBlockstore } from '../../src/core/index.ts'
import { createNodeGateway } from '../../src/node/index.ts'
import { type ServedHandler, serveHandler } from '../../src/transfer/index.ts'
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
  /** What the ingesting node holds, served on its peer-token gateway (the coordinator verifies from it). */
  const ingesterStore = new MemoryBlockstore()
  let ingesterGateway: ServedHandler
  /** While set, the ingester's gateway holds every request until it is called. */
  let stall: { release: () => void; requested: () => void } | undefined

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

  async function setIngestAccount(nodeId: string, email: string | null): Promise<Response> {
    return fetch(`${coordinator.url}/api/v1/nodes/${nodeId}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ingestAccount: email }),
    })
  }

  /** A file the ingesting node really imported: its cid and byte size. */
  async function dropped(size = 3000): Promise<{ cid: string; size: number }> {
    const entry = await importBytes(randomBytes(size), ingesterStore)
    return { cid: entry.cid.toString(), size }
  }

  /** Sends a real file from the ingester and waits until it is registered: every earlier frame of that node was handled. */
  async function barrier(): Promise<void> {
    const { cid, size } = await dropped(10)
    const path = `barrier/${cid}`
    ingester.send({ type: 'ingested', path, cid, size, mtime: 1 })
    await until(() => registry().entries.getByPath(adminAccountId, `/Library/incoming/${path}`), 'the barrier file')
  }

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
    const gateway = createNodeGateway({ source: ingesterStore, identity: ingesterId, coordinatorKey: () => coordinator.components.cluster.coordinatorKey.publicKey })
    ingesterGateway = await serveHandler(async (request) => {
      const held = stall
      if (held) {
        held.requested()
        await new Promise<void>((resolve) => {
          held.release = resolve
          request.signal.addEventListener('abort', () => resolve())
        })
      }
      return gateway(request)
    })
    ingester = await joinCluster(ingesterId, ingesterGateway.url)
    other = await joinCluster(otherId, 'http://127.0.0.1:9102')
    await setIngestAccount(ingesterId.id, coordinator.adminCredentials?.email ?? null)
    // both nodes are usable before anything is ingested
    await until(async () => {
      const nodes = await coordinator.components.cluster.listNodes()
      return nodes.filter((n) => n.state === 'up').length === 2 ? true : undefined
    }, 'two nodes up')
  })

  after(async () => {
    ingester?.close()
    other?.close()
    await ingesterGateway?.close()
    await coordinator?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('registers the file at /Library/incoming/<path> with its mtime, the ingesting node pinned, another node allocated', async () => {
    const { cid, size } = await dropped(1234)
    const mtime = Date.UTC(2024, 0, 2, 3, 4, 5)
    ingester.send({ type: 'ingested', path: 'drop/a.txt', cid, size, mtime })

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
    // the coordinator verified the DAG into its origin repo, so it is a source too
    assert.deepEqual(sources.sources, [{ cid, urls: [coordinator.url, ingesterGateway.url] }])

    // the status API lists both
    const response = await fetch(`${coordinator.url}/api/v1/pins/${cid}/status`, { headers: { authorization: `Bearer ${adminToken}` } })
    const status = (await response.json()) as { allocations: { nodeId: string; status: string }[] }
    assert.equal(status.allocations.find((a) => a.nodeId === ingesterId.id)?.status, 'pinned')
  })

  it('is idempotent: a resend after reconnect adds no version and no allocation change', async () => {
    const { cid, size } = await dropped(10)
    const message: NodeMessage = { type: 'ingested', path: 'again/b.bin', cid, size, mtime: 1_700_000_000_000 }
    ingester.send(message)
    await until(async () => (await registry().allocations.get(cid, ingesterId.id))?.status === 'pinned' || undefined, 'first ingest')
    const seqBefore = (await registry().allocations.get(cid, ingesterId.id))?.seq
    ingester.send(message)
    ingester.send(message)
    // a later frame is handled after them (frames are processed in order)
    await barrier()
    const dir = await registry().entries.getByPath(adminAccountId, '/Library/incoming/again')
    assert.ok(dir)
    const versions = await registry().entries.versions(adminAccountId, dir.id, 'b.bin')
    assert.equal(versions.length, 1)
    assert.equal((await registry().allocations.get(cid, ingesterId.id))?.seq, seqBefore)
  })

  it('a newer mtime at the same path wins; bad input keeps the session open', async () => {
    const older = await dropped(1)
    const newer = await dropped(2)
    ingester.send({ type: 'ingested', path: 'v.txt', cid: newer.cid, size: newer.size, mtime: 2_000_000 })
    ingester.send({ type: 'ingested', path: 'v.txt', cid: older.cid, size: older.size, mtime: 1_000_000 })
    await until(() => registry().allocations.get(older.cid, ingesterId.id), 'both versions')
    assert.equal((await registry().entries.getByPath(adminAccountId, '/Library/incoming/v.txt'))?.cid, newer.cid)

    // an invalid path: logged and skipped, the session stays open
    const lost = await dropped()
    ingester.send({ type: 'ingested', path: 'a/../b', cid: lost.cid, size: lost.size, mtime: 1 })
    await barrier()
    assert.equal(await registry().pins.get(lost.cid), undefined)
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

  describe('a hostile node', () => {
    it('cannot ingest without an ingest account the admin assigned', async () => {
      const stranger = await loadOrCreateNodeIdentity(await mkdtemp(join(dir, 'node-')))
      // its own gateway over the same blocks (the ingester's URL would answer with the ingester's key)
      const strangerGateway = await serveHandler(
        createNodeGateway({ source: ingesterStore, identity: stranger, coordinatorKey: () => coordinator.components.cluster.coordinatorKey.publicKey }),
      )
      const node = await joinCluster(stranger, strangerGateway.url)
      try {
        const file = await dropped()
        node.send({ type: 'ingested', path: 'unassigned.txt', cid: file.cid, size: file.size, mtime: 1 })
        // the same frame once the admin assigned an account is taken: the first was handled (and refused)
        assert.equal((await setIngestAccount(stranger.id, 'dropper@example.com')).status, 404, 'unknown accounts are refused')
        const user = await registry().accounts.create({ email: 'dropper@example.com', password: 'a long enough password' })
        assert.equal((await setIngestAccount(stranger.id, 'dropper@example.com')).status, 200)
        node.send({ type: 'ingested', path: 'assigned.txt', cid: file.cid, size: file.size, mtime: 1 })
        await until(() => registry().entries.getByPath(user.id, '/Library/incoming/assigned.txt'), 'the ingest after assignment')
        assert.equal(await registry().entries.getByPath(user.id, '/Library/incoming/unassigned.txt'), undefined)
        assert.equal(await registry().entries.getByPath(adminAccountId, '/Library/incoming/unassigned.txt'), undefined)
        const view = (await (await fetch(`${coordinator.url}/api/v1/nodes/${stranger.id}`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as { ingestAccountId: string }
        assert.equal(view.ingestAccountId, user.id)
      } finally {
        node.close()
        await strangerGateway.close()
      }
    })

    it('cannot write into another account by naming it', async () => {
      const victim = await registry().accounts.create({ email: 'victim@example.com', password: 'a long enough password' })
      const file = await dropped()
      ingester.send({ type: 'ingested', path: 'planted.txt', cid: file.cid, size: file.size, mtime: 1, account: 'victim@example.com' })
      await barrier()
      assert.equal(await registry().entries.getByPath(victim.id, '/Library/incoming/planted.txt'), undefined)
      assert.equal(await registry().entries.getByPath(adminAccountId, '/Library/incoming/planted.txt'), undefined)
      assert.equal(await registry().pins.get(file.cid), undefined)
    })

    it('cannot register a CID it does not have', async () => {
      const cid = await randomCid()
      ingester.send({ type: 'ingested', path: 'phantom.bin', cid, size: 10 ** 12, mtime: 1 })
      await barrier()
      assert.equal(await registry().entries.getByPath(adminAccountId, '/Library/incoming/phantom.bin'), undefined)
      assert.equal(await registry().pins.get(cid), undefined)
    })

    it('cannot lie about the size: the coordinator measures it', async () => {
      const file = await dropped(5000)
      ingester.send({ type: 'ingested', path: 'small-claim.bin', cid: file.cid, size: 1, mtime: 1 })
      const entry = await until(() => registry().entries.getByPath(adminAccountId, '/Library/incoming/small-claim.bin'), 'the entry')
      assert.equal(entry.size, 5000)
      assert.ok(((await registry().pins.get(file.cid))?.size ?? 0) >= 5000)
    })

    it('revoking it withdraws what it claimed and the coordinator has not verified', async () => {
      const file = await dropped()
      let requested!: () => void
      const fetching = new Promise<void>((resolve) => {
        requested = resolve
      })
      stall = { requested, release: () => undefined }
      ingester.send({ type: 'ingested', path: 'unverified.bin', cid: file.cid, size: file.size, mtime: 1 })
      try {
        await fetching // the coordinator is verifying it from the node
        const revoked = await fetch(`${coordinator.url}/api/v1/nodes/${ingesterId.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${adminToken}` } })
        assert.equal(revoked.status, 200)
      } finally {
        stall.release()
        stall = undefined
      }
      // nothing of it is registered, even once the node's gateway answers
      await until(async () => ((await coordinator.components.repo.pins.get(CID.parse(file.cid))) === undefined ? true : undefined), 'no origin pin')
      assert.equal(await registry().entries.getByPath(adminAccountId, '/Library/incoming/unverified.bin'), undefined)
      assert.equal(await registry().pins.get(file.cid), undefined)
    })
  })
})
