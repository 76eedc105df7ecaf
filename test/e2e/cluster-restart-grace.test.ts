import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { type ClusterApi, clusterApi, killAll, type NodeProcess, pinnedOn, startNodeProcess, until } from '../helpers/node-process.ts'

/**
 * Issue 10 item 5 with real processes: the coordinator is down for twice the re-allocation
 * timeout and restarts; node "a" reconnects at once, node "b" (frozen with SIGSTOP meanwhile)
 * is resumed seconds later and reconnects within a re-allocation timeout of the
 * coordinator's start. The
 * coordinator's downtime is not the nodes' silence, so not one allocation moves.
 */
const SECRET = 'e2e-cluster-secret-restart-grace-01'
const REALLOCATE_AFTER_S = 8
const PINS = 6

describe('a coordinator outage longer than the re-allocation timeout (real processes)', { timeout: 150_000 }, () => {
  let coordinator: CoordinatorProcess
  let api: ClusterApi
  let workDir: string
  const nodes = new Map<string, NodeProcess>()
  const started: NodeProcess[] = []
  const env = {
    PINFOLD_CLUSTER_SECRET: SECRET,
    PINFOLD_CLUSTER_NODE_DOWN_AFTER_SECONDS: '2',
    PINFOLD_CLUSTER_REALLOCATE_AFTER_SECONDS: String(REALLOCATE_AFTER_S),
    PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: '0.3',
    PINFOLD_CLUSTER_DEFAULT_REPLICATION_MIN: '1',
    PINFOLD_CLUSTER_DEFAULT_REPLICATION_MAX: '1',
  }
  const logs = () =>
    `\n--- coordinator ---\n${coordinator?.output().slice(-3000)}\n${[...nodes].map(([name, n]) => `--- node ${name} ---\n${n.output().slice(-2000)}`).join('\n')}`

  async function startNode(name: string, weight: number): Promise<NodeProcess> {
    const node = await startNodeProcess({
      join: coordinator.url,
      secret: SECRET,
      repo: join(workDir, `node-${name}`),
      args: ['--name', name, '--storage-path', `store::${weight}`, '--report-interval', '300ms', '--reconnect-max', '500ms'],
    })
    started.push(node)
    nodes.set(name, node)
    return node
  }
  const online = (node: NodeProcess) =>
    until(async () => ((await api.node(node.id))?.status === 'online' ? true : undefined), 15_000, () => `node ${node.id} online${logs()}`)

  /** cid → the nodes its allocations are on, with their statuses. */
  async function placement(cids: string[]): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {}
    for (const cid of cids) out[cid] = ((await api.pinStatus(cid))?.allocations ?? []).map((a) => `${a.nodeId}:${a.status}`).sort()
    return out
  }

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'pinfold-e2e-grace-'))
    coordinator = await startCoordinatorProcess({ dataDir: join(workDir, 'coordinator'), env })
    api = clusterApi(coordinator.url, await coordinator.token())
  })

  after(async () => {
    await killAll(started)
    await coordinator?.kill()
    if (workDir) await rm(workDir, { recursive: true, force: true })
  })

  it(`moves no allocation after a ${2 * REALLOCATE_AFTER_S} s outage with a ${REALLOCATE_AFTER_S} s timeout`, async (t) => {
    const a = await startNode('a', 1)
    await online(a)
    const first = await api.upload(Array.from({ length: PINS / 2 }, (_, i) => ({ path: `grace/a-${i}.bin`, bytes: new Uint8Array(randomBytes(64 * 1024)) })))
    const b = await startNode('b', 100)
    await online(b)
    const second = await api.upload(Array.from({ length: PINS / 2 }, (_, i) => ({ path: `grace/b-${i}.bin`, bytes: new Uint8Array(randomBytes(64 * 1024)) })))
    const cids = [...first, ...second].map((e) => e.cid)
    const before = await until(
      async () => {
        const now = await placement(cids)
        return Object.values(now).every((list) => list.length === 1 && list[0]?.endsWith(':pinned')) ? now : undefined
      },
      20_000,
      () => `every pin pinned once${logs()}`,
    )
    const holders = new Set(Object.values(before).map((list) => list[0]?.split(':')[0]))
    assert.deepEqual([...holders].sort(), [a.id, b.id].sort(), 'both nodes hold pins')

    await coordinator.kill()
    b.pause()
    const down = Date.now()
    await until(() => (Date.now() - down >= 2 * REALLOCATE_AFTER_S * 1000 ? true : undefined), 4 * REALLOCATE_AFTER_S * 1000, () => 'the outage')
    // the same address again: the nodes keep trying the URL they joined
    const listen = new URL(coordinator.url).host
    coordinator = await startCoordinatorProcess({ dataDir: join(workDir, 'coordinator'), env, admin: coordinator.admin, args: ['--listen', listen] })
    const restarted = Date.now()
    api = clusterApi(coordinator.url, await coordinator.token())
    await online(a)
    // b (frozen through the outage) comes back seconds after a, within a timeout of the coordinator's start
    await until(() => (Date.now() - restarted >= 3000 ? true : undefined), 5000, () => 'b to stay away a little')
    b.resume()
    await online(b)
    t.diagnostic(`b online ${Date.now() - restarted} ms after the coordinator's restart`)

    // watch through the grace and a full timeout past it: nothing may move at any point
    const end = restarted + 2 * REALLOCATE_AFTER_S * 1000
    let checks = 0
    while (Date.now() < end) {
      assert.deepEqual(await placement(cids), before, `no allocation moved${logs()}`)
      checks++
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    assert.ok(checks > 3)
    assert.deepEqual(pinnedOn(await api.pinStatus(cids[0] as string)).length, 1)
  })
})
