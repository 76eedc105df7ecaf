import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import { importBytes, MemoryBlockstore } from '../../src/core/index.ts'
import { loadCoordinatorConfig } from '../../src/coordinator/config/load-config.ts'
import { startCoordinator } from '../../src/coordinator/main.ts'
import { createGatewayHandler, type ServedHandler, serveHandler } from '../../src/transfer/index.ts'
import { createTestAccount, type TestAccount, type TestCoordinator } from '../coordinator/seed-content.ts'

interface PinStatus {
  requestid: string
  status: string
  delegates: string[]
  info: Record<string, string>
}

/** Pinning Service status with storage nodes in the registry, and requests resumed after a restart. */
describe('Pinning Service API: storage nodes and restarts', () => {
  let dir: string
  let coordinator: TestCoordinator
  let alice: TestAccount
  let origin: ServedHandler
  const originStore = new MemoryBlockstore()

  async function start(): Promise<TestCoordinator> {
    const config = await loadCoordinatorConfig({ flags: { dataDir: dir, listen: '127.0.0.1:0' }, env: { PINFOLD_LOG_LEVEL: 'silent', PINFOLD_PINNING_ALLOW_ORIGINS: '127.0.0.1' } })
    const running = await startCoordinator(config)
    return { running, url: running.url, close: () => running.close() }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pinfold-pinning-'))
    coordinator = await start()
    const { registry } = coordinator.running.components
    // a storage node as the cluster records it once joined (no session needed for these rules)
    await registry.nodes.register({ id: 'node-a', publicKey: 'pk-a', name: 'a', address: 'http://127.0.0.1:9' })
    await registry.nodes.heartbeat('node-a', { status: 'online' })
    alice = await createTestAccount(coordinator, 'alice@example.com')
    origin = await serveHandler(createGatewayHandler({ source: originStore }))
  })
  after(async () => {
    await origin?.close()
    await coordinator?.close()
    await rm(dir, { recursive: true, force: true })
  })

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: PinStatus }> {
    const headers: Record<string, string> = { authorization: `Bearer ${alice.token}` }
    if (body !== undefined) headers['content-type'] = 'application/json'
    const response = await fetch(`${coordinator.url}/pinning${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    return { status: response.status, body: (await response.json()) as PinStatus }
  }

  async function waitFor(requestid: string, statuses: string[]): Promise<PinStatus> {
    const deadline = Date.now() + 15_000
    for (;;) {
      const got = await call('GET', `/pins/${requestid}`)
      assert.equal(got.status, 200)
      if (statuses.includes(got.body.status)) return got.body
      if (Date.now() > deadline) assert.fail(`still ${got.body.status}`)
      await sleep(25)
    }
  }

  it('delegates name the coordinator and the online nodes’ gateways', async () => {
    const cid = (await importBytes(randomBytes(100), new MemoryBlockstore())).cid.toString()
    const added = await call('POST', '/pins', { cid })
    const port = new URL(coordinator.url).port
    assert.deepEqual(added.body.delegates, [`/ip4/127.0.0.1/tcp/${port}/http`, '/ip4/127.0.0.1/tcp/9/http'])
  })

  it('content of the account only the nodes hold: pinned once replication_min nodes report it pinned', async () => {
    const { registry } = coordinator.running.components
    const cid = CID.create(1, 0x55, (await importBytes(randomBytes(200), new MemoryBlockstore())).cid.multihash).toString()
    // the account holds it (as a node's drop-folder ingest registers it); nodes' copies say
    // nothing about a request for content the account does not hold
    await registry.entries.addFile(alice.id, '/Library', { name: 'on-nodes.bin', cid, size: 200, createParents: true })
    const added = await call('POST', '/pins', { cid })
    const failed = await waitFor(added.body.requestid, ['failed'])
    assert.equal(failed.info.replicas, '0/1', 'replication −1: every node that is not down')
    await registry.allocations.setStatus(cid, 'node-a', 'pinned')
    const got = await call('GET', `/pins/${added.body.requestid}`)
    assert.equal(got.body.status, 'pinned')
    const listed = await fetch(`${coordinator.url}/pinning/pins?cid=${cid}`, { headers: { authorization: `Bearer ${alice.token}` } })
    const page = (await listed.json()) as { count: number; results: PinStatus[] }
    assert.equal(page.count, 1, 'the derived status is stored, so the default (pinned) filter finds it')
  })

  it('requests left queued by a stopped coordinator are fetched after its restart', async () => {
    const { registry } = coordinator.running.components
    const cid = (await importBytes(randomBytes(300_000), originStore)).cid.toString()
    const port = new URL(origin.url).port
    // recorded but never started (as if the process stopped right after accepting it)
    const request = await registry.pinRequests.create(alice.id, { cid, origins: [`/ip4/127.0.0.1/tcp/${port}/http`] })
    await coordinator.close()
    coordinator = await start()
    const pinned = await waitFor(request.requestid, ['pinned', 'failed'])
    assert.equal(pinned.status, 'pinned', JSON.stringify(pinned.info))
    assert.ok(await coordinator.running.components.repo.pins.get(CID.parse(cid)))
  })
})
