import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { type ClusterApi, clusterApi, killAll, type NodeProcess, pinnedOn, repoPins, startNodeProcess, until } from '../helpers/node-process.ts'

/**
 * Issue 10 item 4 with real processes: a node that dies (SIGKILL) or stops (SIGTERM) right
 * after pinning must not lose its `pinned` report. Statuses go through the node's durable
 * outbox and are resent until the coordinator acknowledges them, so after a restart every
 * allocation's status is true again, and a drain whose replacement node was killed right
 * after pinning still completes. One copy per pin; weights send new uploads to "a".
 */
const SECRET = 'e2e-cluster-secret-status-outbox-01'
const ROUNDS = 4
const SETTLE_MS = 20_000

describe('status reports survive a node dying right after it pins (real processes)', { timeout: 240_000 }, () => {
  let coordinator: CoordinatorProcess
  let api: ClusterApi
  let workDir: string
  const nodes = new Map<string, NodeProcess>()
  const started: NodeProcess[] = []
  const weights: Record<string, number> = { a: 5, b: 1 }
  const logs = () =>
    `\n--- coordinator ---\n${coordinator?.output().slice(-3000)}\n${[...nodes].map(([name, n]) => `--- node ${name} ---\n${n.output().slice(-2000)}`).join('\n')}`

  async function startNode(name: string): Promise<NodeProcess> {
    const node = await startNodeProcess({
      join: coordinator.url,
      secret: SECRET,
      repo: join(workDir, `node-${name}`),
      args: ['--name', name, '--storage-path', `store::${weights[name]}`, '--report-interval', '300ms'],
    })
    started.push(node)
    nodes.set(name, node)
    await until(async () => ((await api.node(node.id))?.status === 'online' ? true : undefined), 15_000, () => `node ${name} online${logs()}`)
    return node
  }

  const upload = async (name: string) => {
    const [entry] = await api.upload([{ path: `outbox/${name}`, bytes: new Uint8Array(randomBytes(300 * 1024)) }])
    return (entry as { cid: string }).cid
  }

  /** Every cid's only allocation is `pinned` on `nodeId`. */
  const allPinnedOn = (cids: string[], nodeId: string, what: string) =>
    until(
      async () => {
        for (const cid of cids) {
          const status = await api.pinStatus(cid)
          if (status?.allocations.length !== 1 || pinnedOn(status)[0] !== nodeId) return undefined
        }
        return true
      },
      SETTLE_MS,
      () => `${what}: ${cids.length} pins pinned on ${nodeId}${logs()}`,
    )

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'pinfold-e2e-outbox-'))
    coordinator = await startCoordinatorProcess({
      env: {
        PINFOLD_CLUSTER_SECRET: SECRET,
        PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: '0.3',
        PINFOLD_CLUSTER_DEFAULT_REPLICATION_MIN: '1',
        PINFOLD_CLUSTER_DEFAULT_REPLICATION_MAX: '1',
      },
    })
    api = clusterApi(coordinator.url, await coordinator.token())
    await startNode('a')
    await startNode('b')
  })

  after(async () => {
    await killAll(started)
    await coordinator?.stop()
    await coordinator?.cleanup()
    if (workDir) await rm(workDir, { recursive: true, force: true })
  })

  for (const how of ['kill', 'stop'] as const) {
    it(`a node ${how === 'kill' ? 'SIGKILLed' : 'SIGTERMed'} right after pinning reports pinned once it is back (${ROUNDS} rounds)`, async () => {
      const cids: string[] = []
      for (let round = 0; round < ROUNDS; round++) {
        const a = nodes.get('a') as NodeProcess
        const cid = await upload(`${how}-${round}.bin`)
        cids.push(cid)
        await until(() => (repoPins(a.repo, cid) ? true : undefined), SETTLE_MS, () => `a pins ${cid}${logs()}`)
        await a[how]()
        await startNode('a')
      }
      await allPinnedOn(cids, (nodes.get('a') as NodeProcess).id, `after ${ROUNDS} ${how}s`)
    })
  }

  it('a drain completes although the replacement node was killed right after pinning', async () => {
    const a = nodes.get('a') as NodeProcess
    const cids = [await upload('drain-0.bin'), await upload('drain-1.bin'), await upload('drain-2.bin')]
    await allPinnedOn(cids, a.id, 'before the drain')
    const { status } = await api.call('POST', `/api/v1/nodes/${a.id}/drain`)
    assert.equal(status, 202)
    const b = nodes.get('b') as NodeProcess
    await until(() => (cids.every((cid) => repoPins(b.repo, cid)) ? true : undefined), SETTLE_MS, () => `b pins the drained pins${logs()}`)
    await b.kill()
    const restarted = await startNode('b')
    await allPinnedOn(cids, restarted.id, 'drain finished')
  })
})
