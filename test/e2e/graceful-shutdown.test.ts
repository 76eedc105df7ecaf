import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { until } from '../helpers/node-process.ts'
import { PINFOLD_BIN } from '../helpers/run-pinfold.ts'

const DRAIN_SECONDS = 4
/** Start-up and shutdown of components take seconds on a loaded CI machine. */
const MARGIN_MS = 10_000

interface Drip {
  /** Bytes of the file part written so far. */
  sent(): number
  /** The HTTP status, or the error that ended the request. */
  result: Promise<{ status?: number; body?: string; error?: string }>
}

/**
 * A multipart upload of `total` bytes written `chunk` bytes every `everyMs` ms (chunked
 * transfer encoding), like a slow client; the closing boundary follows the last chunk.
 */
function drippingUpload(url: string, token: string, options: { name: string; total: number; chunk: number; everyMs: number }): Drip {
  const boundary = `drip${randomBytes(8).toString('hex')}`
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\n/Library/drain\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${options.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`
  let sent = 0
  let timer: NodeJS.Timeout | undefined
  const result = new Promise<{ status?: number; body?: string; error?: string }>((resolve) => {
    const req = request(`${url}/api/v1/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
    })
    req.on('response', (res) => {
      clearInterval(timer)
      let body = ''
      res.on('data', (c: Buffer) => {
        body += c.toString()
      })
      res.on('end', () => resolve({ status: res.statusCode, body }))
      res.on('error', (error) => resolve({ status: res.statusCode, error: error.message }))
    })
    req.on('error', (error) => {
      clearInterval(timer)
      resolve({ error: error.message })
    })
    req.write(head)
    timer = setInterval(() => {
      const n = Math.min(options.chunk, options.total - sent)
      req.write(randomBytes(n))
      sent += n
      if (sent >= options.total) {
        clearInterval(timer)
        req.end(`\r\n--${boundary}--\r\n`)
      }
    }, options.everyMs)
  })
  return { sent: () => sent, result }
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

/** Resolves with the exit code, or undefined when the process is still running after `ms`. */
async function exitWithin(child: ChildProcess, ms: number): Promise<number | null | undefined> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms)
  })
  const code = await Promise.race([exited(child), timeout])
  clearTimeout(timer)
  return code
}

async function json(url: string, token: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
  return { status: response.status, body: await response.json() }
}

describe('SIGTERM drains and stops the coordinator', () => {
  let coordinator: CoordinatorProcess | undefined
  after(async () => {
    await coordinator?.kill()
    await coordinator?.cleanup()
  })

  it('stops within the drain time while an upload drips in: a quick request completes, the cut one leaves nothing complete', async (t) => {
    const env = { PINFOLD_SHUTDOWN_DRAIN_SECONDS: String(DRAIN_SECONDS) }
    coordinator = await startCoordinatorProcess({ env })
    const running = coordinator
    const token = await running.token()
    // 500 KB/s for a minute: far longer than the drain
    const slow = drippingUpload(running.url, token, { name: 'slow.bin', total: 30_000_000, chunk: 50_000, everyMs: 100 })
    await until(() => (slow.sent() > 200_000 ? true : undefined), 20_000, () => 'the slow upload under way')
    // ends about 1.5 s after SIGTERM, well within the drain
    const quick = drippingUpload(running.url, token, { name: 'quick.bin', total: 100_000, chunk: 10_000, everyMs: 150 })
    await until(() => (quick.sent() > 0 ? true : undefined), 10_000, () => 'the quick upload under way')
    const signalled = Date.now()
    running.process.kill('SIGTERM')

    const code = await exitWithin(running.process, DRAIN_SECONDS * 1000 + MARGIN_MS)
    const tookMs = Date.now() - signalled
    assert.notEqual(code, undefined, `still running ${tookMs} ms after SIGTERM\n${running.output()}`)
    assert.equal(code, 0, `exit code\n${running.output()}`)
    t.diagnostic(`exited ${tookMs} ms after SIGTERM (drain ${DRAIN_SECONDS} s)`)
    const quickResult = await quick.result
    assert.equal(quickResult.status, 201, `the request in flight during the drain completes: ${JSON.stringify(quickResult)}`)
    const slowResult = await slow.result
    assert.notEqual(slowResult.status, 201, 'the cut upload is not acknowledged')
    assert.ok(slow.sent() < 30_000_000)

    // after a restart: the quick file is there, the cut one is nowhere and its upload is not done
    coordinator = await startCoordinatorProcess({ dataDir: running.dataDir, admin: running.admin, env })
    const again = await coordinator.token()
    const quickEntry = await json(`${coordinator.url}/api/v1/entries?path=${encodeURIComponent('/Library/drain/quick.bin')}`, again)
    assert.equal(quickEntry.status, 200)
    const slowEntry = await json(`${coordinator.url}/api/v1/entries?path=${encodeURIComponent('/Library/drain/slow.bin')}`, again)
    assert.equal(slowEntry.status, 404, 'nothing registered for the cut upload')
    const { body } = await json(`${coordinator.url}/api/v1/uploads`, again)
    const done = (body as { uploads: { status: string }[] }).uploads.filter((u) => u.status === 'done')
    assert.equal(done.length, 1, `only the quick upload is done: ${JSON.stringify(body)}`)
  })
})

describe('SIGTERM stops `pinfold start` and `pinfold node` within the drain time', () => {
  let work: string | undefined
  const children: ChildProcess[] = []
  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    if (work) await rm(work, { recursive: true, force: true })
  })

  const spawnPinfold = (args: string[], cwd: string) => {
    const child = spawn(process.execPath, [PINFOLD_BIN, ...args], {
      cwd,
      env: { ...process.env, PINFOLD_LOG_LEVEL: 'warn', PINFOLD_SHUTDOWN_DRAIN_SECONDS: String(DRAIN_SECONDS) },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.push(child)
    let output = ''
    child.stdout?.on('data', (c: Buffer) => {
      output += c.toString()
    })
    child.stderr?.on('data', (c: Buffer) => {
      output += c.toString()
    })
    return { child, output: () => output }
  }

  it('start: a dripping upload does not hold the process; node: exits 0 with a peer connection open', async () => {
    work = await mkdtemp(join(tmpdir(), 'pinfold-drain-'))
    const start = spawnPinfold(['start', '--listen', '127.0.0.1:0', '--data-dir', join(work, 'data')], work)
    const url = await until(() => /listening on (http:\/\/\S+)/.exec(start.output())?.[1], 60_000, start.output)
    const apiKey = /API key:\s+(\S+)/.exec(start.output())?.[1]
    const secret = /--secret (\S+)/.exec(start.output())?.[1]
    assert.ok(apiKey && secret, start.output())
    const tokenAnswer = await fetch(`${url}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiKey }),
    })
    const { accessToken } = (await tokenAnswer.json()) as { accessToken: string }

    const node = spawnPinfold(['node', '--join', url, '--secret', secret, '--repo', join(work, 'node'), '--drain-time', `${DRAIN_SECONDS}s`], work)
    const gateway = await until(() => /serving \/ipfs\/ on (http:\/\/[^\s,]+)/.exec(node.output())?.[1], 60_000, node.output)
    // a peer that opened a request and never finished it
    const hanging = request(`${gateway}/ipfs/bafkqaaa`, { method: 'POST', headers: { 'content-length': '1000000' } })
    hanging.on('error', () => undefined)
    hanging.write('x')
    const nodeSignalled = Date.now()
    node.child.kill('SIGTERM')
    const nodeCode = await exitWithin(node.child, DRAIN_SECONDS * 1000 + MARGIN_MS)
    assert.equal(nodeCode, 0, `node stopped with 0 within ${Date.now() - nodeSignalled} ms\n${node.output()}`)

    const slow = drippingUpload(url, accessToken, { name: 'slow.bin', total: 30_000_000, chunk: 50_000, everyMs: 100 })
    await until(() => (slow.sent() > 200_000 ? true : undefined), 20_000, () => 'the slow upload under way')
    const signalled = Date.now()
    start.child.kill('SIGTERM')
    const code = await exitWithin(start.child, DRAIN_SECONDS * 1000 + MARGIN_MS)
    assert.equal(code, 0, `start stopped with 0 within ${Date.now() - signalled} ms\n${start.output()}`)
    assert.notEqual((await slow.result).status, 201)
  })
})
