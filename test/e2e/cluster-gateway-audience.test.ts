import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { NodeIdentity } from '../../src/cluster/index.ts'
import { importBytes, MemoryBlockstore } from '../../src/core/index.ts'
import { createNodeGateway } from '../../src/node/node-gateway.ts'
import { type ServedHandler, serveHandler } from '../../src/transfer/index.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { FakeNode, fromB64, memoryIdentity, signedJoin } from '../helpers/fake-node.ts'
import { type ClusterApi, clusterApi, type NodeProcess, pinnedOn, startNodeProcess, until } from '../helpers/node-process.ts'
import { runPinfold } from '../helpers/run-pinfold.ts'

const SECRET = 'e2e-cluster-secret-audience-0123456789'
const PROBE = 'bafkqaaa'

interface NodeListing {
  id: string
  gatewayUrl: string | null
  gatewayVerified: boolean
  claimedGatewayUrl: string | null
  gatewayError: string | null
}

/**
 * Issue 9 item 6: a node's self-reported gateway URL must not make honest nodes send their
 * peer token to any URL, and a token presented to one node must be useless elsewhere —
 * against a real `pinfold serve` and real `pinfold node`s, with the hostile members scripted:
 * - `liar` claims a gateway URL that is an attacker's listener and reports a pin as held;
 * - `holder` really holds a pin and serves it (a verified gateway), and keeps the tokens
 *   the real nodes present to it, to replay them at another node and at the coordinator;
 * - `impersonator` claims a real node's gateway URL as its own.
 */
describe('gateway URLs the coordinator vouches for, peer tokens bound to their audience', { timeout: 120_000 }, () => {
  let workDir: string
  let coordinator: CoordinatorProcess
  let api: ClusterApi
  const scripted: FakeNode[] = []
  const timers: NodeJS.Timeout[] = []
  let fetcher: NodeProcess
  let bystander: NodeProcess
  /** Every request the attacker's listener received. */
  const heardByAttacker: { url: string; authorization: string | undefined }[] = []
  let attacker: Server
  let attackerUrl: string
  /** Authorization headers the holder's gateway was presented, by whom it was presented. */
  const capturedByHolder: string[] = []
  let holderGateway: ServedHandler
  let holder: NodeIdentity
  let liar: NodeIdentity
  /** Only the liar "holds" it (no one can serve it); only the holder holds `heldCid`. */
  let lieCid: string
  let heldCid: string

  /** Joins a scripted node claiming `gatewayUrl`, reporting every second; resolves with its welcome's coordinator key. */
  async function joinScripted(identity: NodeIdentity, gatewayUrl: string): Promise<{ node: FakeNode; coordinatorKey: Uint8Array }> {
    const node = new FakeNode(coordinator.url)
    scripted.push(node)
    const challenge = await node.next('challenge')
    node.send({ ...signedJoin(identity, fromB64(challenge.nonce), SECRET, `scripted-${identity.id.slice(0, 8)}`), gatewayUrl })
    const welcome = await node.next('welcome')
    const report = () =>
      node.send({
        type: 'report',
        storage: [{ id: 'p1', weight: 1, maxSize: 0, used: 0, available: 10 ** 12 }],
        pins: 0,
        queued: 0,
        failed: 0,
        version: 'test',
        gatewayUrl,
      })
    report()
    timers.push(setInterval(report, 1000))
    return { node, coordinatorKey: fromB64(welcome.coordinatorKey) }
  }

  /** Answers every `pin` change with an ack and `pinned` for `holds` (the scripted node claims to hold it). */
  async function pinWhenAsked(node: FakeNode, holds: string): Promise<void> {
    const changes = await node.next('changes', (m) => m.changes.some((c) => c.cid === holds), 30_000)
    node.send({ type: 'ack', seq: changes.changes.at(-1)?.seq ?? 0 })
    node.send({ type: 'status', updates: [{ cid: holds, status: 'pinned', attempts: 1 }] })
  }

  async function nodes(): Promise<Map<string, NodeListing>> {
    const { body } = await api.call('GET', '/api/v1/nodes')
    return new Map((body as { nodes: NodeListing[] }).nodes.map((n) => [n.id, n]))
  }

  /** A pin request for `cid` the origin cannot fetch: the pin exists (and is allocated) without the origin holding it. */
  async function pinRequest(cid: string): Promise<void> {
    const { status, body } = await api.call('POST', '/pinning/pins', { cid, name: cid.slice(-8) })
    assert.equal(status, 202, JSON.stringify(body))
  }

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'pinfold-audience-'))
    coordinator = await startCoordinatorProcess({
      env: { PINFOLD_CLUSTER_SECRET: SECRET, PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: '0.3', PINFOLD_GATEWAY_ACCESS: 'token' },
    })
    api = clusterApi(coordinator.url, await coordinator.token())

    attacker = createServer((request: IncomingMessage, response) => {
      heardByAttacker.push({ url: request.url ?? '', authorization: request.headers.authorization })
      response.writeHead(404).end()
    })
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve))
    attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`

    const store = new MemoryBlockstore()
    heldCid = (await importBytes(new TextEncoder().encode(`held only by the holder ${Date.now()}`), store)).cid.toString()
    lieCid = (await importBytes(new TextEncoder().encode(`held by nobody ${Date.now()}`), new MemoryBlockstore())).cid.toString()
    holder = memoryIdentity()
    liar = memoryIdentity()
    let holderKey: Uint8Array | undefined
    const holderHandler = createNodeGateway({ source: store, identity: holder, coordinatorKey: () => holderKey })
    holderGateway = await serveHandler(async (request) => {
      const authorization = request.headers.get('authorization')
      if (authorization !== null) capturedByHolder.push(authorization.replace(/^Bearer\s+/i, ''))
      return holderHandler(request)
    })
    ;({ coordinatorKey: holderKey } = await joinScripted(holder, holderGateway.url))
    const { node: liarNode } = await joinScripted(liar, attackerUrl)
    const holderNode = scripted[0] as FakeNode

    // both pins exist (allocated to every node) and are reported pinned by their scripted node
    // before any real node joins, so the real nodes' first locate already names them
    await pinRequest(lieCid)
    await pinRequest(heldCid)
    await Promise.all([pinWhenAsked(liarNode, lieCid), pinWhenAsked(holderNode, heldCid)])
    await until(async () => ((await api.pinStatus(lieCid))?.allocations.some((a) => a.nodeId === liar.id && a.status === 'pinned') ? true : undefined), 10_000, () => 'the liar pinned')
    await until(async () => ((await api.pinStatus(heldCid))?.allocations.some((a) => a.nodeId === holder.id && a.status === 'pinned') ? true : undefined), 10_000, () => 'the holder pinned')

    const nodeArgs = (name: string) => ['--name', name, '--report-interval', '300ms']
    fetcher = await startNodeProcess({ join: coordinator.url, secret: SECRET, repo: join(workDir, 'fetcher'), args: nodeArgs('fetcher') })
    bystander = await startNodeProcess({ join: coordinator.url, secret: SECRET, repo: join(workDir, 'bystander'), args: nodeArgs('bystander') })
  })

  after(async () => {
    for (const timer of timers) clearInterval(timer)
    for (const node of scripted) node.close()
    await fetcher?.stop()
    await bystander?.stop()
    await holderGateway?.close()
    await new Promise((resolve) => attacker?.close(resolve))
    await coordinator?.stop()
    await coordinator?.cleanup()
    await rm(workDir, { recursive: true, force: true })
  })

  it('real nodes replicate from a verified gateway; the operator sees verified and unverified gateways', async () => {
    for (const node of [fetcher, bystander]) {
      await until(async () => (pinnedOn(await api.pinStatus(heldCid)).includes(node.id) ? true : undefined), 30_000, () => `${node.id} to pin from the holder`)
    }
    const listed = await until(
      async () => {
        const all = await nodes()
        return [fetcher.id, bystander.id, holder.id].every((id) => all.get(id)?.gatewayVerified) && all.get(liar.id)?.gatewayError ? all : undefined
      },
      10_000,
      () => 'the gateways to be checked',
    )
    assert.equal(listed.get(holder.id)?.gatewayUrl, holderGateway.url)
    assert.equal(listed.get(fetcher.id)?.gatewayUrl, fetcher.gatewayUrl)
    const lie = listed.get(liar.id)
    assert.equal(lie?.gatewayVerified, false)
    assert.equal(lie?.gatewayUrl, null, 'an unverified URL is never given out')
    assert.equal(lie?.claimedGatewayUrl, attackerUrl)

    const configDir = await mkdtemp(join(workDir, 'cli-'))
    const cli = (args: string[]) => runPinfold(args, { env: { PINFOLD_CONFIG_DIR: configDir } })
    assert.equal((await cli(['login', '--url', coordinator.url, '--api-key', coordinator.admin.apiKey])).code, 0)
    const ls = await cli(['nodes', 'ls'])
    assert.equal(ls.code, 0, ls.stderr)
    const line = (id: string) => ls.stdout.split('\n').find((l) => l.startsWith(id)) ?? ''
    assert.match(line(liar.id), new RegExp(`${attackerUrl} \\(unverified\\)`))
    assert.match(line(fetcher.id), new RegExp(`${fetcher.gatewayUrl} \\(verified\\)`))
  })

  it("a gateway URL pointing at an attacker's listener is never handed out: the listener sees no peer token", async () => {
    // the real nodes have tried to pin the liar's CID (nobody can serve it) at least once
    for (const node of [fetcher, bystander]) {
      await until(
        async () => ((await api.pinStatus(lieCid))?.allocations.some((a) => a.nodeId === node.id && a.status === 'failed') ? true : undefined),
        30_000,
        () => `${node.id} to have tried the liar's pin`,
      )
    }
    const withToken = heardByAttacker.filter((r) => r.authorization !== undefined)
    assert.deepEqual(withToken, [], 'no request to the attacker carried a token')
    assert.deepEqual(
      heardByAttacker.filter((r) => !r.url.startsWith('/.well-known/pinfold/identity?')),
      [],
      'only the coordinator’s identity challenge reached it',
    )
  })

  it('a node claiming another node’s gateway URL stays unverified', async () => {
    const impersonator = memoryIdentity()
    await joinScripted(impersonator, fetcher.gatewayUrl)
    const listed = await until(async () => ((await nodes()).get(impersonator.id)?.gatewayError ? await nodes() : undefined), 10_000, () => 'the check')
    assert.equal(listed.get(impersonator.id)?.gatewayUrl, null)
    assert.equal(listed.get(fetcher.id)?.gatewayVerified, true, 'the real owner keeps its URL')
  })

  it('a token captured at one node is refused by another node and by the coordinator', async () => {
    assert.ok(capturedByHolder.length >= 1, 'a real node fetched from the holder with a token')
    const probe = (base: string, token: string) => fetch(`${base}/ipfs/${PROBE}?format=raw`, { headers: { authorization: `Bearer ${token}` } })
    for (const token of new Set(capturedByHolder)) {
      assert.equal((await probe(holderGateway.url, token)).status, 200, 'valid where it was meant to be presented')
      const atNode = await probe(bystander.gatewayUrl, token)
      assert.equal(atNode.status, 401, 'replayed at another node')
      assert.equal(((await atNode.json()) as { error: { code: string } }).error.code, 'ERR_UNAUTHORIZED')
      assert.equal((await probe(fetcher.gatewayUrl, token)).status, 401, 'replayed at the node it came from')
      const atCoordinator = await probe(coordinator.url, token)
      assert.equal(atCoordinator.status, 401, 'replayed at the coordinator')
      await atCoordinator.arrayBuffer()
      // nor does it read real content there
      assert.equal((await fetch(`${coordinator.url}/ipfs/${heldCid}?format=raw`, { headers: { authorization: `Bearer ${token}` } })).status, 401)
    }
  })
})
