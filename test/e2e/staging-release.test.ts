import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { answerIdentityChallenge, GATEWAY_IDENTITY_PATH, loadOrCreateNodeIdentity, STORAGE_PROOF_PATH } from '../../src/cluster/index.ts'
import { randomBytes } from '../coordinator/uploads-helpers.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { FakeNode, fromB64, signedJoin } from '../helpers/fake-node.ts'
import { clusterApi, killAll, type NodeProcess, pinnedOn, repoTotals, startNodeProcess, until } from '../helpers/node-process.ts'

const SECRET = 'staging-release-secret-0123456789'
const FAST = { PINFOLD_CLUSTER_SECRET: SECRET, PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: '0.2' }

describe('staging release: the coordinator keeps no copy once nodes hold verified ones (real processes)', () => {
  let coordinator: CoordinatorProcess
  let nodes: NodeProcess[] = []
  let token: string

  before(async () => {
    coordinator = await startCoordinatorProcess({ env: FAST })
    token = await coordinator.token()
    nodes = await Promise.all([0, 1].map(() => startNodeProcess({ join: coordinator.url, secret: SECRET, args: ['--report-interval', '300ms'] })))
  })
  after(async () => {
    await killAll(nodes)
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  it('releases the staged DAG after min verified copies and still serves it byte-identical from the nodes (full, Range, tar, Kubo cat)', async () => {
    const api = clusterApi(coordinator.url, token)
    const auth = { authorization: `Bearer ${token}` }
    const bytes = randomBytes(3_000_000, 7)
    const other = randomBytes(40_000, 8)
    const [entry] = await api.upload([{ path: 'big.bin', bytes }, { path: 'small.bin', bytes: other }], { path: '/Library/staged' })
    const cid = entry?.cid as string
    const originRepo = join(coordinator.dataDir, 'repo')
    await until(async () => (pinnedOn(await api.pinStatus(cid)).length === 2 ? true : undefined), 30_000, () => 'both nodes pinned')
    await until(() => (repoTotals(originRepo).blocks === 0 ? true : undefined), 30_000, () => `the origin repo emptied: ${JSON.stringify(repoTotals(originRepo))}\n${coordinator.output().slice(-2000)}`)

    const full = await fetch(`${coordinator.url}/ipfs/${cid}`, { headers: auth })
    assert.equal(full.status, 200)
    assert.ok(Buffer.from(await full.arrayBuffer()).equals(Buffer.from(bytes)), 'gateway: byte-identical')

    const from = bytes.length - 1000
    const range = await fetch(`${coordinator.url}/ipfs/${cid}`, { headers: { ...auth, range: `bytes=${from}-` } })
    assert.equal(range.status, 206)
    assert.ok(Buffer.from(await range.arrayBuffer()).equals(Buffer.from(bytes.subarray(from))), 'Range near the end')

    const rest = await fetch(`${coordinator.url}/api/v1/cids/${cid}/content`, { headers: auth })
    assert.equal(rest.status, 200)
    assert.ok(Buffer.from(await rest.arrayBuffer()).equals(Buffer.from(bytes)), 'REST content')

    const tar = await fetch(`${coordinator.url}/api/v1/content?path=${encodeURIComponent('/Library/staged')}`, { headers: auth })
    assert.equal(tar.status, 200)
    const tarBytes = Buffer.from(await tar.arrayBuffer())
    assert.ok(tarBytes.includes(Buffer.from(bytes)) && tarBytes.includes(Buffer.from(other)), 'tar holds both files')

    const cat = await fetch(`${coordinator.url}/api/v0/cat?arg=${cid}`, { method: 'POST', headers: auth })
    assert.equal(cat.status, 200)
    assert.ok(Buffer.from(await cat.arrayBuffer()).equals(Buffer.from(bytes)), 'Kubo cat')
    assert.equal(repoTotals(originRepo).blocks, 0, 'served from the nodes, nothing fetched back into staging')
  })
})

describe('a node that lies about holding a DAG (real coordinator, scripted node)', () => {
  let coordinator: CoordinatorProcess
  let liar: FakeNode | undefined
  let gateway: Server
  let dir: string
  let challenges = 0

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pinfold-liar-'))
    const identity = await loadOrCreateNodeIdentity(dir)
    coordinator = await startCoordinatorProcess({ env: FAST })
    // the liar's "gateway": proves the node's identity (so the coordinator vouches for it),
    // answers every storage challenge with made-up digests and holds no block
    gateway = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x')
      if (url.pathname === GATEWAY_IDENTITY_PATH) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answerIdentityChallenge(identity, url.searchParams.get('nonce') ?? '')))
      } else if (req.url?.startsWith(STORAGE_PROOF_PATH)) {
        challenges++
        const cids = new URL(req.url, 'http://x').searchParams.getAll('cid')
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ digests: cids.map(() => '00'.repeat(32)) }))
      } else res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve))
  })
  after(async () => {
    liar?.close()
    gateway?.close()
    await coordinator?.stop()
    await coordinator?.cleanup()
    await rm(dir, { recursive: true, force: true })
  })

  it('fails its challenge, is reported, and the staged copy is not released on its word', async () => {
    const token = await coordinator.token()
    const api = clusterApi(coordinator.url, token)
    const address = gateway.address() as { port: number }
    const identity = await loadOrCreateNodeIdentity(dir)
    liar = new FakeNode(coordinator.url)
    const challenge = await liar.next('challenge')
    liar.send({ ...signedJoin(identity, fromB64(challenge.nonce), SECRET, 'liar'), gatewayUrl: `http://127.0.0.1:${address.port}` })
    await liar.next('welcome')
    liar.send({ type: 'report', storage: [{ id: 'p1', weight: 1, maxSize: 0, used: 0, available: 2 ** 34 }], pins: 0, queued: 0, failed: 0, version: 'test' })

    const bytes = randomBytes(600_000, 9)
    const [entry] = await api.upload([{ path: 'claimed.bin', bytes }], { path: '/Library/liar' })
    const cid = entry?.cid as string
    const changes = await liar.next('changes', (m) => m.changes.some((c) => c.cid === cid), 20_000)
    liar.send({ type: 'ack', seq: Math.max(...changes.changes.map((c) => c.seq)) })
    // it reports pinned without ever fetching a block
    liar.send({ type: 'status', id: 1, updates: [{ cid, status: 'pinned', attempts: 1 }] } as never)

    const failed = await until(
      async () => (await api.pinStatus(cid))?.allocations.find((a) => a.status === 'failed' && /storage proof/.test(a.reason ?? '')),
      20_000,
      () => `the liar's copy marked failed\n${coordinator.output().slice(-2000)}`,
    )
    assert.equal(failed.nodeId, identity.id)
    assert.ok(challenges >= 1)
    const status = (await api.call('GET', `/api/v1/pins/${cid}/status`)).body as { underReplicated: { copies: number } | null }
    assert.equal(status.underReplicated?.copies, 0, 'reported under-replicated: its copy does not count')
    const metrics = await (await fetch(`${coordinator.url}/metrics`)).text()
    assert.match(metrics, /pinfold_storage_proofs_total\{outcome="failed"\} [1-9]/)

    assert.ok(repoTotals(join(coordinator.dataDir, 'repo')).blocks > 0, 'the staged copy is kept')
    const read = await fetch(`${coordinator.url}/ipfs/${cid}`, { headers: { authorization: `Bearer ${token}` } })
    assert.ok(Buffer.from(await read.arrayBuffer()).equals(Buffer.from(bytes)), 'still served from staging')
  })
})
