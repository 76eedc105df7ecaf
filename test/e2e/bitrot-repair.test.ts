import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { postUpload, randomBytes, uploadForm } from '../coordinator/uploads-helpers.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { flipPackBytes } from '../helpers/flip-pack-bytes.ts'
import { killAll, type NodeProcess, startNodeProcess } from '../helpers/node-process.ts'

const SECRET = 'bitrot-repair-secret-0123456789'

describe('bit rot in the coordinator repo (real processes)', () => {
  let coordinator: CoordinatorProcess
  let node: NodeProcess
  let token: string

  before(async () => {
    // staged copies kept: the rot must hit blocks the coordinator still holds
    coordinator = await startCoordinatorProcess({ env: { PINFOLD_CLUSTER_SECRET: SECRET, PINFOLD_CLUSTER_STAGING_RELEASE: 'keep' } })
    token = await coordinator.token()
    node = await startNodeProcess({ join: coordinator.url, secret: SECRET, args: ['--report-interval', '300ms'] })
  })
  after(async () => {
    await killAll([node])
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  it('a read of a rotten block answers an error, never 200 with wrong bytes, and is repaired from a node at once', async () => {
    const bytes = randomBytes(3_000_000, 11)
    const upload = await postUpload(coordinator, token, uploadForm({ path: '/Library/rot' }, [['rot.bin', bytes]]))
    assert.equal(upload.status, 201, JSON.stringify(upload.body))
    const cid = upload.body.upload.entries?.[0]?.cid ?? upload.body.upload.cid
    const read = () => fetch(`${coordinator.url}/ipfs/${cid}`, { headers: { authorization: `Bearer ${token}` } })
    const deadline = Date.now() + 30_000
    // the node holds a copy once its allocation is pinned
    for (;;) {
      const status = (await (await fetch(`${coordinator.url}/api/v1/pins/${cid}/status`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
        allocations?: Array<{ status: string }>
      }
      if (status.allocations?.some((a) => a.status === 'pinned')) break
      assert.ok(Date.now() < deadline, `node never pinned ${cid}: ${JSON.stringify(status)}`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    assert.ok((await flipPackBytes(join(coordinator.dataDir, 'repo'))) > 0)
    const first = await read()
    let wrong = false
    try {
      const body = new Uint8Array(await first.arrayBuffer())
      wrong = first.status === 200 && !Buffer.from(body).equals(Buffer.from(bytes))
    } catch {
      // an aborted body is a clean failure
    }
    assert.equal(wrong, false, 'never 200 with wrong bytes')
    const repairedBy = Date.now() + 20_000
    for (;;) {
      const res = await read()
      const body = await res.arrayBuffer().then(
        (b) => Buffer.from(b),
        () => undefined, // aborted mid-body: still being repaired
      )
      if (res.status === 200 && body?.equals(Buffer.from(bytes))) break
      assert.ok(Date.now() < repairedBy, `not repaired in time\n${coordinator.output().slice(-3000)}`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  })
})
