import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { PINFOLD_BIN, runPinfold } from '../helpers/run-pinfold.ts'

async function until<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: () => string): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    let value: T | undefined
    try {
      value = await fn()
    } catch (error) {
      if (String(error).includes('exited with')) throw error
    }
    if (value !== undefined) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what()}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

describe('pinfold start: coordinator and an embedded storage node in one process', { timeout: 90_000 }, () => {
  let dataDir: string
  let configDir: string
  let child: ChildProcess
  let output = ''
  let url: string
  let nodeId: string
  let apiKey: string
  let exited: Promise<number | null>

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pinfold-start-'))
    configDir = await mkdtemp(join(tmpdir(), 'pinfold-start-cli-'))
    child = spawn(process.execPath, [PINFOLD_BIN, 'start', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], {
      env: { ...process.env, PINFOLD_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    url = await until(
      async () => {
        if (child.exitCode !== null) throw new Error(`pinfold start exited with ${child.exitCode}:\n${output}`)
        return /listening on (http:\/\/\S+)/.exec(output)?.[1]
      },
      30_000,
      () => `start to listen:\n${output}`,
    )
    nodeId = /Embedded storage node (\S+) serving/.exec(output)?.[1] ?? ''
    apiKey = /API key:\s+(\S+)/.exec(output)?.[1] ?? ''
    assert.ok(nodeId, output)
    assert.ok(apiKey, output)
  })

  after(async () => {
    if (child?.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
    await rm(dataDir, { recursive: true, force: true })
    await rm(configDir, { recursive: true, force: true })
  })

  it('an upload is pinned on the embedded node; nodes/status/sync work from the CLI; SIGTERM stops both', async () => {
    const tokenResponse = await fetch(`${url}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiKey }),
    })
    const { accessToken } = (await tokenResponse.json()) as { accessToken: string }
    const auth = { authorization: `Bearer ${accessToken}` }
    assert.ok((await stat(join(dataDir, 'node', 'config.json'))).isFile(), 'the node repo lives in <dataDir>/node')

    const form = new FormData()
    form.append('file', new Blob([new TextEncoder().encode(`embedded ${Date.now()}`)]), 'hello.txt')
    const upload = await fetch(`${url}/api/v1/uploads`, { method: 'POST', headers: auth, body: form })
    assert.equal(upload.status, 201, await upload.clone().text())
    const cid = ((await upload.json()) as { upload: { entries: { cid: string }[] } }).upload.entries[0]?.cid
    assert.ok(cid)

    await until(
      async () => {
        const response = await fetch(`${url}/api/v1/pins/${cid}/status`, { headers: auth })
        const view = (await response.json()) as { allocations: { nodeId: string; status: string }[] }
        return view.allocations.some((a) => a.nodeId === nodeId && a.status === 'pinned') ? true : undefined
      },
      15_000,
      () => `the embedded node to report pinned\n${output}`,
    )

    const cli = (args: string[]) => runPinfold(args, { env: { PINFOLD_CONFIG_DIR: configDir } })
    const login = await cli(['login', '--url', url, '--api-key', apiKey])
    assert.equal(login.code, 0, login.stderr)
    const ls = await cli(['nodes', 'ls', '--json'])
    assert.equal(ls.code, 0, ls.stderr)
    const nodes = JSON.parse(ls.stdout) as { id: string; name: string; status: string }[]
    assert.deepEqual(
      nodes.map((n) => [n.id, n.name, n.status]),
      [[nodeId, 'embedded', 'online']],
    )
    const table = await cli(['nodes', 'ls'])
    assert.match(table.stdout, /^ID\s+NAME\s+STATUS/)
    assert.match(table.stdout, new RegExp(`${nodeId}\\s+embedded\\s+online`))
    const show = await cli(['nodes', 'show', nodeId, '--json'])
    assert.equal((JSON.parse(show.stdout) as { id: string }).id, nodeId)
    const status = await cli(['status', cid])
    assert.equal(status.code, 0, status.stderr)
    assert.match(status.stdout, /1 pinned of 1 allocated \(min every node, max every node\)/)
    assert.match(status.stdout, new RegExp(`${nodeId}\\s+embedded\\s+online\\s+pinned`))
    const sync = await cli(['sync', '--node', nodeId, '--json'])
    assert.deepEqual(JSON.parse(sync.stdout), { requested: 1 })
    const missing = await cli(['nodes', 'show', 'no-such-node'])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /no storage node no-such-node/)

    // the embedded node's drop folder feeds the admin account without any assignment step
    await mkdir(join(dataDir, 'node', 'incoming'), { recursive: true })
    await writeFile(join(dataDir, 'node', 'incoming', 'dropped.txt'), 'dropped into the embedded node')
    const dropped = await until(
      async () => {
        const response = await fetch(`${url}/api/v1/entries?path=${encodeURIComponent('/Library/incoming/dropped.txt')}`, { headers: auth })
        return response.ok ? ((await response.json()) as { cid: string }) : undefined
      },
      20_000,
      () => `the dropped file registered for the admin\n${output}`,
    )
    const content = await fetch(`${url}/ipfs/${dropped.cid}`, { headers: auth })
    assert.equal(await content.text(), 'dropped into the embedded node')

    child.kill('SIGTERM')
    assert.equal(await exited, 0, output)
    // both released their locks: the node repo can be opened again
    const reopened = await runPinfold(['--repo', join(dataDir, 'node'), 'repo', 'stat'])
    assert.equal(reopened.code, 0, reopened.stderr)
  })
})
