import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { randomBytes } from '../coordinator/uploads-helpers.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { type ClusterApi, clusterApi, killAll, type NodeProcess, type PinStatus, startNodeProcess, until } from '../helpers/node-process.ts'

const SECRET = 'cluster-small-node-secret-0123456789'
const SMALL_NODE_BYTES = 2_000_000
const FILE_BYTES = 400_000
const FILES = 8 // 3.2 MB in all: more than the small node holds

/** Copies that count: pinned on a node that is online. */
const liveCopies = (status: PinStatus) => status.allocations.filter((a) => a.status === 'pinned' && a.nodeStatus === 'online').length
const settled = (status: PinStatus) => status.allocations.every((a) => a.status === 'pinned' || a.status === 'failed')

/**
 * Issue 10 item 6 against real processes: three nodes, one with a 2 MB storage path, every pin
 * wanting 3 copies, more bytes uploaded than the small node holds. The allocator must count
 * space already promised to queued copies (no copy fails ERR_STORAGE_FULL on the small node),
 * and the under-replicated list and gauge must name exactly the pins with fewer than 3 live copies.
 */
describe('a small node in a fleet with replication 3 (real processes)', { timeout: 180_000 }, () => {
  let coordinator: CoordinatorProcess
  let nodes: NodeProcess[] = []
  let small: NodeProcess
  let api: ClusterApi
  const nodeArgs = ['--report-interval', '300ms']

  before(async () => {
    coordinator = await startCoordinatorProcess({
      env: {
        PINFOLD_CLUSTER_SECRET: SECRET,
        PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: '0.3',
        PINFOLD_CLUSTER_DEFAULT_REPLICATION_MIN: '3',
        PINFOLD_CLUSTER_DEFAULT_REPLICATION_MAX: '3',
        PINFOLD_CLUSTER_NODE_DOWN_AFTER_SECONDS: '3',
      },
    })
    api = clusterApi(coordinator.url, await coordinator.token())
    // reports far apart: what the small node has taken is not in its report when the copies are placed
    small = await startNodeProcess({ join: coordinator.url, secret: SECRET, args: ['--report-interval', '1s', '--storage-path', `store:${SMALL_NODE_BYTES}`] })
    nodes = [
      small,
      await startNodeProcess({ join: coordinator.url, secret: SECRET, args: nodeArgs }),
      await startNodeProcess({ join: coordinator.url, secret: SECRET, args: nodeArgs }),
    ]
    await until(async () => ((await api.nodes()).filter((n) => n.status === 'online').length === 3 ? true : undefined), 20_000, () => 'three nodes online')
  })
  after(async () => {
    await killAll(nodes)
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  it('the small node is never over-committed, and exactly the pins with < 3 live copies are reported under-replicated', async () => {
    // one upload: every pin is placed in one pass, long before the small node reports what it took
    const files = Array.from({ length: FILES }, (_, i) => ({ path: `f-${i}.bin`, bytes: randomBytes(FILE_BYTES, 700 + i) }))
    const cids = (await api.upload(files, { path: '/Library/small' })).map((e) => e.cid)
    // every copy ends pinned or failed, and the two large nodes hold everything
    const statuses = await until(
      async () => {
        const all = await Promise.all(cids.map((cid) => api.pinStatus(cid)))
        if (!all.every((s) => s !== undefined && settled(s) && liveCopies(s) >= 2)) return undefined
        return all as PinStatus[]
      },
      90_000,
      () => 'every copy pinned or failed',
    )
    const onSmall = statuses.flatMap((s) => s.allocations.filter((a) => a.nodeId === small.id).map((a) => ({ cid: s.cid, ...a })))
    const full = onSmall.filter((a) => a.status === 'failed')
    assert.deepEqual(full, [], 'no copy on the small node failed: it was given only what fits')
    const pinnedOnSmall = onSmall.filter((a) => a.status === 'pinned').length
    assert.ok(pinnedOnSmall > 0 && pinnedOnSmall * FILE_BYTES <= SMALL_NODE_BYTES, `${pinnedOnSmall} copies on the small node`)
    assert.ok(pinnedOnSmall < FILES, 'the small node cannot hold every file')

    const expected = statuses.filter((s) => liveCopies(s) < 3).map((s) => s.cid).sort()
    assert.equal(expected.length, FILES - pinnedOnSmall)
    await assertReported(expected)

    // a node that stops is down within seconds: its copies still exist but are not live, so
    // every pin it held is under-replicated now (before any re-allocation)
    const [, , stopped] = nodes as [NodeProcess, NodeProcess, NodeProcess]
    await stopped.kill()
    const state = async () => ((await api.call('GET', `/api/v1/nodes/${stopped.id}`)).body as { state: string }).state
    await until(async () => ((await state()) === 'down' ? true : undefined), 20_000, () => 'the killed node down')
    await assertReported([...cids].sort())
  })

  /** The list and the gauge name exactly `expected` (recomputed as copies report: allow the last reports to arrive). */
  async function assertReported(expected: string[]): Promise<void> {
    const reported = await until(
      async () => {
        const { body } = await api.call('GET', '/api/v1/pins?status=under-replicated')
        const listed = (body as { pins: { cid: string }[] }).pins.map((p) => p.cid).sort()
        return JSON.stringify(listed) === JSON.stringify(expected) ? listed : undefined
      },
      15_000,
      () => `under-replicated list to equal ${expected.length} pins`,
    )
    assert.deepEqual(reported, expected)
    const metrics = await (await fetch(`${coordinator.url}/metrics`)).text()
    assert.match(metrics, new RegExp(`^pinfold_pins_under_replicated ${expected.length}$`, 'm'))
  }
})
