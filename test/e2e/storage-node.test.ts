import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { type NodeProcess, startNodeProcess } from '../helpers/node-process.ts'

const SECRET = 'e2e-cluster-secret-0123456789'

async function until<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await fn().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('storage node end to end (pinfold serve + pinfold node)', { timeout: 60_000 }, () => {
  let coordinator: CoordinatorProcess
  let node: NodeProcess
  let nodeDir: string
  let token: string

  before(async () => {
    coordinator = await startCoordinatorProcess({
      env: { PINFOLD_CLUSTER_SECRET: SECRET, PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: '0.2' },
    })
    token = await coordinator.token()
    nodeDir = await mkdtemp(join(tmpdir(), 'pinfold-e2e-node-'))
    node = await startNodeProcess({
      join: coordinator.url,
      secret: SECRET,
      repo: nodeDir,
      args: ['--name', 'e2e-1', '--report-interval', '500ms', '--ingest-poll', '200ms'],
    })
  })

  after(async () => {
    await node?.stop()
    await coordinator?.stop()
    await coordinator?.cleanup()
    if (nodeDir) await rm(nodeDir, { recursive: true, force: true })
  })

  it('joins, and an upload ends up pinned on the node', async () => {
    const nodeId = node.id
    const auth = { authorization: `Bearer ${token}` }
    await until(
      async () => {
        const response = await fetch(`${coordinator.url}/api/v1/nodes/${nodeId}`, { headers: auth })
        const body = (await response.json()) as { status?: string; node?: { status?: string } }
        return (body.node?.status ?? body.status) === 'online' ? true : undefined
      },
      15_000,
      `node online\n${node.output()}`,
    )

    const form = new FormData()
    form.append('file', new Blob([new TextEncoder().encode(`replicate me ${Date.now()}`)]), 'e2e/hello.txt')
    const upload = await fetch(`${coordinator.url}/api/v1/uploads`, { method: 'POST', headers: auth, body: form })
    assert.equal(upload.status, 201, await upload.clone().text())
    const body = (await upload.json()) as { upload: { entries?: Array<{ cid: string }>; cid?: string } }
    const cid = body.upload.entries?.[0]?.cid ?? body.upload.cid
    assert.ok(cid, JSON.stringify(body))

    const status = await until(
      async () => {
        const response = await fetch(`${coordinator.url}/api/v1/pins/${cid}/status`, { headers: auth })
        const view = (await response.json()) as { allocations?: Array<{ nodeId: string; status: string }> }
        const mine = view.allocations?.find((a) => a.nodeId === nodeId)
        return mine?.status === 'pinned' ? view : undefined
      },
      20_000,
      `pinned on the node\n${node.output()}\n${coordinator.output()}`,
    )
    assert.ok(status.allocations?.some((a) => a.nodeId === nodeId && a.status === 'pinned'))
  })

  it('ingests a dropped file into indexed/ under the same path, once an admin assigned the node an account', async () => {
    const assigned = await fetch(`${coordinator.url}/api/v1/nodes/${node.id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ingestAccount: coordinator.admin.email }),
    })
    assert.equal(assigned.status, 200, await assigned.clone().text())
    await mkdir(join(nodeDir, 'incoming', 'drop'), { recursive: true })
    await writeFile(join(nodeDir, 'incoming', 'drop', 'f.txt'), 'dropped')
    await until(
      async () => ((await readFile(join(nodeDir, 'indexed', 'drop', 'f.txt'), 'utf8')) === 'dropped' ? true : undefined),
      10_000,
      `file in indexed/\n${node.output()}`,
    )
    // registered for the assigned account at /Library/incoming/<relative path>, held by the ingesting node
    const auth = { authorization: `Bearer ${token}` }
    const entry = await until(
      async () => {
        const response = await fetch(`${coordinator.url}/api/v1/entries?path=${encodeURIComponent('/Library/incoming/drop/f.txt')}`, { headers: auth })
        return response.ok ? ((await response.json()) as { path: string; kind: string; cid: string; size: number }) : undefined
      },
      10_000,
      `registry entry at /Library/incoming/drop/f.txt\n${node.output()}\n${coordinator.output()}`,
    )
    assert.equal(entry.path, '/Library/incoming/drop/f.txt')
    assert.equal(entry.kind, 'file')
    assert.equal(entry.size, 'dropped'.length)
    const nodeId = node.id
    const status = (await (await fetch(`${coordinator.url}/api/v1/pins/${entry.cid}/status`, { headers: auth })).json()) as {
      allocations: Array<{ nodeId: string; status: string }>
    }
    assert.deepEqual(status.allocations.map((a) => [a.nodeId, a.status]), [[nodeId, 'pinned']])
  })
})
