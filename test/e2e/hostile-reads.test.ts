import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { deepDirectory, deepFile, type HostileDag, importHostileDag, putHostileDag, smallHostileDags } from '../helpers/hostile-dags.ts'
import { killAll, type NodeProcess, startNodeProcess } from '../helpers/node-process.ts'
import { peerTokenFor } from '../helpers/peer-token.ts'

/** Reads a response to its end: the status, and whether the body arrived whole (not aborted). */
async function readAll(res: Response): Promise<{ status: number; complete: boolean; bytes: number }> {
  try {
    const body = await res.arrayBuffer()
    return { status: res.status, complete: true, bytes: body.byteLength }
  } catch {
    return { status: res.status, complete: false, bytes: 0 }
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('crafted blocks against real processes: never a crash, never a truncated 200', () => {
  let coordinator: CoordinatorProcess
  let node: NodeProcess
  let token: string
  let secret: string
  let dags: HostileDag[]
  const auth = () => ({ authorization: `Bearer ${token}` })

  before(async () => {
    coordinator = await startCoordinatorProcess({ env: { PINFOLD_CLUSTER_SECRET: 'hostile-reads-secret-0123456789' } })
    token = await coordinator.token()
    secret = 'hostile-reads-secret-0123456789'
    node = await startNodeProcess({ join: coordinator.url, secret, args: ['--report-interval', '300ms'] })
    dags = await smallHostileDags()
    for (const dag of dags) await putHostileDag(coordinator.url, token, dag)
  })
  after(async () => {
    await killAll([node])
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  /** Every coordinator read path for `cid`; each answers an error or an aborted body, never a complete 200. */
  const coordinatorReads = (cid: string): Array<[string, () => Promise<Response>]> => [
    ['gateway path', () => fetch(`${coordinator.url}/ipfs/${cid}`, { headers: auth() })],
    ['gateway range', () => fetch(`${coordinator.url}/ipfs/${cid}`, { headers: { ...auth(), range: 'bytes=2-5' } })],
    ['kubo cat', () => fetch(`${coordinator.url}/api/v0/cat?arg=${cid}`, { method: 'POST', headers: auth() })],
    ['kubo get', () => fetch(`${coordinator.url}/api/v0/get?arg=${cid}`, { method: 'POST', headers: auth() })],
  ]

  /** Reads that may legitimately succeed on hash-valid blocks (listing, CAR, raw block): they must only not crash. */
  const structuralReads = (cid: string): Array<[string, () => Promise<Response>]> => [
    ['kubo ls', () => fetch(`${coordinator.url}/api/v0/ls?arg=${cid}`, { method: 'POST', headers: auth() })],
    ['kubo dag/export', () => fetch(`${coordinator.url}/api/v0/dag/export?arg=${cid}`, { method: 'POST', headers: auth() })],
    ['gateway CAR', () => fetch(`${coordinator.url}/ipfs/${cid}?format=car`, { headers: auth() })],
  ]

  async function assertAlive(): Promise<void> {
    const health = await fetch(`${coordinator.url}/healthz`)
    assert.equal(health.status, 200, `coordinator still serving\n${coordinator.output()}`)
    assert.equal(coordinator.process.exitCode, null, coordinator.output())
  }

  it('every coordinator read path answers a clean error for each hostile DAG and keeps serving', async () => {
    for (const dag of dags) {
      for (const [name, read] of coordinatorReads(dag.root.toString())) {
        const result = await readAll(await read())
        const clean = result.status >= 400 || !result.complete
        assert.ok(clean, `${name} of ${dag.description}: ${result.status}, complete ${result.complete}, ${result.bytes} bytes`)
        await assertAlive()
      }
      for (const [name, read] of structuralReads(dag.root.toString())) {
        await readAll(await read())
        await assertAlive()
        assert.ok(name)
      }
    }
    // a normal request still works afterwards
    const ok = await fetch(`${coordinator.url}/ipfs/bafkqaaa`, { headers: auth() })
    assert.equal(ok.status, 200)
  })

  it('a file whose blockSizes exceed its data is a 400 with a stable code, not a short body', async () => {
    const dag = dags.find((d) => d.description.startsWith('blockSizes')) as HostileDag
    const res = await fetch(`${coordinator.url}/api/v0/cat?arg=${dag.root}`, { method: 'POST', headers: auth() })
    assert.equal(res.status, 400)
    assert.match(await res.text(), /blockSizes|declared|size/i)
    const gateway = await fetch(`${coordinator.url}/ipfs/${dag.root}`, { headers: auth() })
    assert.equal(gateway.status, 501, 'the gateway answers ERR_INVALID_DAG as 501, before any byte')
    assert.equal(((await gateway.json()) as { error: { code: string } }).error.code, 'ERR_INVALID_DAG')
  })

  it("a node's gateway survives the same DAGs once it holds them", async () => {
    const peer = await peerTokenFor(coordinator.dataDir, 'pftest', node.id)
    const nodeRead = (cid: string) => fetch(`${node.gatewayUrl}/ipfs/${cid}`, { headers: { authorization: `Bearer ${peer}` } })
    for (const dag of dags) {
      await waitFor(`node holds ${dag.description}`, async () => (await nodeRead(`${dag.root}?format=raw`)).status === 200)
      const result = await readAll(await nodeRead(dag.root.toString()))
      assert.ok(result.status >= 400 || !result.complete, `node gateway, ${dag.description}: ${result.status}`)
      assert.equal(node.process.exitCode, null, node.output())
    }
    assert.equal((await nodeRead('bafkqaaa')).status, 200, 'the node still serves')
  })

  it('a 10,000-level file and directory: cat and get answer whole or fail cleanly, and the process lives', async () => {
    for (const dag of [await deepFile(10_000), await deepDirectory(10_000)]) {
      await importHostileDag(coordinator.url, token, dag)
      const isFile = dag.description.startsWith('file')
      const get = await readAll(await fetch(`${coordinator.url}/api/v0/get?arg=${dag.root}`, { method: 'POST', headers: auth() }))
      // a whole tar (one 5-byte file, or 10,000 nested directories at 512+ bytes each), or an
      // error or aborted body: never a 200 that ends cleanly after a part of the archive
      const wholeTar = get.status === 200 && get.complete && get.bytes >= (isFile ? 1024 : 10_000 * 512)
      assert.ok(wholeTar || get.status >= 400 || !get.complete, `get of ${dag.description}: ${get.status} ${get.complete} ${get.bytes}`)
      if (isFile) {
        const cat = await fetch(`${coordinator.url}/api/v0/cat?arg=${dag.root}`, { method: 'POST', headers: auth() })
        assert.equal(cat.status, 200)
        assert.equal(await cat.text(), 'deep!')
      }
      await assertAlive()
    }
  })
})
