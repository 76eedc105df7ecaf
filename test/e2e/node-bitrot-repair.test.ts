import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { randomBytes } from '../coordinator/uploads-helpers.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { flipPackBytes } from '../helpers/flip-pack-bytes.ts'
import { type ClusterApi, clusterApi, killAll, type NodeProcess, pinnedOn, startNodeProcess, until } from '../helpers/node-process.ts'
import { peerTokenFor } from '../helpers/peer-token.ts'
import { runPinfold } from '../helpers/run-pinfold.ts'

const SECRET = 'node-bitrot-repair-secret-0123456789'
const FILES = 4
const FILE_BYTES = 1_500_000

/** What one read answered: `right` only for a 200 whose whole body is the expected bytes. */
type ReadOutcome = 'right' | 'wrong-200' | 'error'

async function outcome(response: Promise<Response>, expected: Uint8Array): Promise<ReadOutcome> {
  const res = await response
  const body = await res.arrayBuffer().then(
    (b) => Buffer.from(b),
    () => undefined, // an aborted body is a clean failure
  )
  if (res.status !== 200 || body === undefined) return 'error'
  return body.equals(Buffer.from(expected)) ? 'right' : 'wrong-200'
}

/**
 * Issue 10 item 3 on storage nodes and after an offline repair: bytes flipped in a node's
 * pack files are never served with 200, and the node fetches the damaged pins back from a
 * peer at once; blocks dropped by `pinfold repo verify --drop` on the stopped coordinator's
 * repo come back from the nodes' copies once it runs again.
 */
describe('bit rot on a storage node and an offline verify --drop (real processes)', { timeout: 180_000 }, () => {
  let coordinator: CoordinatorProcess
  let nodes: NodeProcess[] = []
  let api: ClusterApi
  let token: string
  const files = Array.from({ length: FILES }, (_, i) => ({ path: `rot-${i}.bin`, bytes: randomBytes(FILE_BYTES, 101 + i) }))
  let cids: string[] = []
  // the coordinator keeps its staged copies, so the offline verify --drop below has blocks to drop
  const env = { PINFOLD_CLUSTER_SECRET: SECRET, PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: '0.3', PINFOLD_CLUSTER_STAGING_RELEASE: 'keep' }
  const nodeArgs = ['--report-interval', '300ms', '--reconnect-max', '500ms']

  before(async () => {
    coordinator = await startCoordinatorProcess({ env })
    token = await coordinator.token()
    api = clusterApi(coordinator.url, token)
    nodes = [
      await startNodeProcess({ join: coordinator.url, secret: SECRET, args: nodeArgs }),
      await startNodeProcess({ join: coordinator.url, secret: SECRET, args: nodeArgs }),
    ]
    cids = (await api.upload(files, { path: '/Library/rot' })).map((entry) => entry.cid)
    for (const cid of cids) {
      await until(
        async () => ((pinnedOn(await api.pinStatus(cid)).length === nodes.length) ? true : undefined),
        60_000,
        () => `${cid} pinned on every node`,
      )
    }
  })
  after(async () => {
    await killAll(nodes)
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  it("a read of a node's rotten block answers an error, never 200 with wrong bytes, and the node re-fetches it from a peer at once", async () => {
    const [damaged] = nodes as [NodeProcess]
    const peer = await peerTokenFor(coordinator.dataDir, 'pftest', damaged.id)
    const read = (i: number) =>
      outcome(fetch(`${damaged.gatewayUrl}/ipfs/${cids[i]}`, { headers: { authorization: `Bearer ${peer}` } }), files[i]?.bytes as Uint8Array)
    assert.ok((await flipPackBytes(damaged.repo, 16)) > 0)
    const first = await Promise.all(cids.map((_, i) => read(i)))
    assert.equal(first.filter((o) => o === 'wrong-200').length, 0, `never 200 with wrong bytes: ${first}`)
    assert.ok(first.includes('error'), `the flipped bytes hit at least one file: ${first}`)
    // repaired at once (well before any scheduled repair run: its default is hourly)
    for (let i = 0; i < cids.length; i++) {
      await until(async () => ((await read(i)) === 'right' ? true : undefined), 20_000, () => `node serves ${cids[i]} right again\n${damaged.output().slice(-3000)}`)
    }
    assert.equal(damaged.process.exitCode, null, damaged.output())
  })

  it("after an offline `repo verify --drop` on the coordinator's repo, files whose nodes hold copies become readable again", async () => {
    const listen = new URL(coordinator.url).host
    await coordinator.stop()
    const repoDir = join(coordinator.dataDir, 'repo')
    assert.ok((await flipPackBytes(repoDir, 16)) > 0)
    const verify = await runPinfold(['repo', 'verify', '--drop'], { repo: repoDir })
    assert.equal(verify.code, 0, verify.stderr)
    assert.match(verify.stdout, /damaged pin/, 'the offline verify dropped blocks of pinned files')
    coordinator = await startCoordinatorProcess({ dataDir: coordinator.dataDir, env, admin: coordinator.admin, args: ['--listen', listen] })
    token = await coordinator.token()
    const read = (i: number) =>
      outcome(fetch(`${coordinator.url}/ipfs/${cids[i]}`, { headers: { authorization: `Bearer ${token}` } }), files[i]?.bytes as Uint8Array)
    for (let i = 0; i < cids.length; i++) {
      await until(
        async () => {
          const o = await read(i)
          assert.notEqual(o, 'wrong-200', 'never 200 with wrong bytes')
          return o === 'right' ? true : undefined
        },
        30_000,
        () => `coordinator serves ${cids[i]} again\n${coordinator.output().slice(-3000)}`,
      )
    }
  })
})
