import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { createFuzzer, type FuzzRequest } from '../helpers/fuzz-requests.ts'

/**
 * The fuzz lane: a real `pinfold serve` takes PINFOLD_FUZZ_REQUESTS (10,000 by default)
 * seeded malformed requests across /api/v1, /api/v0, /pinning and /ipfs, plus malformed
 * control-socket sessions, from two accounts that own real entries. It must answer every
 * one with a status below 500, never crash, and keep its memory bounded. The seed is
 * printed, so `PINFOLD_FUZZ_SEED=… node --test test/security/fuzz.test.ts` replays a run.
 */
const REQUESTS = Number(process.env.PINFOLD_FUZZ_REQUESTS ?? 10_000)
const SEED = Number(process.env.PINFOLD_FUZZ_SEED ?? Date.now() % 2 ** 31)
const CONTROL_SESSIONS = 200
const CONCURRENCY = 8
const TIME_BOUND_MS = 240_000
const REQUEST_TIMEOUT_MS = 15_000

interface Outcome {
  request: FuzzRequest
  status: number | 'timeout' | 'network'
  detail?: string
}

describe('fuzz lane: malformed requests on every surface', { timeout: TIME_BOUND_MS + 120_000 }, () => {
  let coordinator: CoordinatorProcess
  let fuzzer: ReturnType<typeof createFuzzer>

  before(async () => {
    coordinator = await startCoordinatorProcess({
      env: { PINFOLD_AUTH_RATE_LIMIT_PER_MINUTE: '10000000', PINFOLD_LOG_LEVEL: 'error' },
    })
    const admin = await coordinator.token()
    const users = [await createUser(admin, 'fuzz-a@example.test'), await createUser(admin, 'fuzz-b@example.test')]
    const knownIds: string[] = []
    const knownCids: string[] = []
    for (const token of users) {
      const uploaded = await upload(token, [['page.html', '<script>alert(1)</script>'], ['data.bin', 'x'.repeat(300_000)]])
      knownCids.push(...uploaded.cids)
      knownIds.push(...uploaded.ids)
    }
    const openapi = (await (await fetch(`${coordinator.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> }
    const apiRoutes = Object.entries(openapi.paths)
      .filter(([path]) => !path.includes('/auth/') && !path.endsWith('/events'))
      .map(([path, methods]) => [path, Object.keys(methods)] as [string, string[]])
    assert.ok(apiRoutes.length > 20, 'the OpenAPI document lists the API routes')
    fuzzer = createFuzzer(SEED, { apiRoutes, tokens: users, knownIds, knownCids })
  })
  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  async function createUser(adminToken: string, email: string): Promise<string> {
    const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }
    const created = await fetch(`${coordinator.url}/api/v1/accounts`, { method: 'POST', headers, body: JSON.stringify({ email, password: 'correct horse battery' }) })
    assert.equal(created.status, 201, await created.clone().text())
    const login = await fetch(`${coordinator.url}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: 'correct horse battery' }),
    })
    assert.equal(login.status, 200)
    return ((await login.json()) as { accessToken: string }).accessToken
  }

  async function upload(token: string, files: [string, string][]): Promise<{ cids: string[]; ids: string[] }> {
    const form = new FormData()
    form.set('path', '/Library/fuzz')
    for (const [name, content] of files) form.append('file', new Blob([content]), name)
    const response = await fetch(`${coordinator.url}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
    assert.equal(response.status, 201, await response.clone().text())
    const listing = await fetch(`${coordinator.url}/api/v1/entries/children?path=${encodeURIComponent('/Library/fuzz')}`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(listing.status, 200, await listing.clone().text())
    const { items: entries } = (await listing.json()) as { items: { id: string; cid?: string }[] }
    assert.equal(entries.length, files.length)
    return { cids: entries.flatMap((e) => (e.cid ? [e.cid] : [])), ids: entries.map((e) => e.id) }
  }

  async function send(request: FuzzRequest): Promise<Outcome> {
    try {
      const response = await fetch(`${coordinator.url}${request.path}`, {
        method: request.method,
        headers: headerSafe(request.headers),
        body: request.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      })
      const text = await response.text().catch((error: Error) => `<body aborted: ${error.message}>`)
      return { request, status: response.status, detail: response.status >= 500 ? text : undefined }
    } catch (error) {
      const name = (error as Error).name
      return { request, status: name === 'TimeoutError' ? 'timeout' : 'network', detail: (error as Error).message }
    }
  }

  /** Header values go as bytes (UTF-8 read as Latin-1); fetch itself refuses control characters. */
  function headerSafe(headers: Record<string, string>): Record<string, string> {
    return Object.fromEntries(
      Object.entries(headers).map(([name, value]) => [name, [...Buffer.from(value, 'utf8').toString('latin1')].map(withoutControl).join('')]),
    )
  }

  /**
   * Kubo answers a command's own error (e.g. `pin rm` of something not pinned) with 500 and
   * `{"Message", "Code": 0, "Type": "error"}`, and kubo-rpc-client expects that; only an
   * internal error there is a server failure.
   */
  function isKuboCommandError({ request, status, detail }: Outcome): boolean {
    if (request.surface !== 'api/v0' || status !== 500 || !detail) return false
    try {
      const body = JSON.parse(detail) as { Message?: string; Type?: string }
      return body.Type === 'error' && typeof body.Message === 'string' && body.Message !== 'internal error'
    } catch {
      return false
    }
  }

  function withoutControl(char: string): string {
    const code = char.charCodeAt(0)
    return (code < 0x20 && code !== 0x09) || code === 0x7f ? ' ' : char
  }

  async function rssBytes(): Promise<number> {
    const status = await readFile(`/proc/${coordinator.process.pid}/status`, 'utf8')
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024
  }

  /** A control session that sends garbage instead of a handshake; the server must just close it. */
  async function controlSession(): Promise<string | undefined> {
    const socket = new WebSocket(`${coordinator.url.replace('http', 'ws')}/api/v1/nodes/connect`)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        socket.close()
        resolve('control session stayed open 10 s after garbage')
      }, 10_000)
      socket.onopen = () => {
        for (let i = 0; i < 3; i++) socket.send(fuzzer.controlFrame())
      }
      socket.onclose = () => {
        clearTimeout(timer)
        resolve(undefined)
      }
      socket.onerror = () => undefined
    })
  }

  it(`answers ${REQUESTS} malformed requests and ${CONTROL_SESSIONS} garbage control sessions without a crash or a 5xx`, async () => {
    console.log(`fuzz seed ${SEED} (replay with PINFOLD_FUZZ_SEED=${SEED})`)
    const rssBefore = await rssBytes()
    const started = Date.now()
    const outcomes: Outcome[] = []
    let issued = 0
    const worker = async () => {
      while (issued < REQUESTS && Date.now() - started < TIME_BOUND_MS) {
        issued++
        outcomes.push(await send(fuzzer.next()))
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    const controlProblems: string[] = []
    for (let i = 0; i < CONTROL_SESSIONS; i++) {
      const problem = await controlSession()
      if (problem) controlProblems.push(problem)
    }
    const rssAfter = await rssBytes()
    const seconds = (Date.now() - started) / 1000

    const failures = outcomes.filter((o) => o.status === 'timeout' || o.status === 'network' || (o.status >= 500 && !isKuboCommandError(o)))
    const bySurface: Record<string, Record<string, number>> = {}
    for (const { request, status } of outcomes) {
      const klass = typeof status === 'number' ? `${Math.floor(status / 100)}xx` : status
      const counts = bySurface[request.surface] ?? {}
      counts[klass] = (counts[klass] ?? 0) + 1
      bySurface[request.surface] = counts
    }
    const summary = {
      seed: SEED,
      requests: outcomes.length,
      controlSessions: CONTROL_SESSIONS,
      seconds: Math.round(seconds),
      crashes: coordinator.process.exitCode === null && coordinator.process.signalCode === null ? 0 : 1,
      serverErrors: failures.filter((f) => typeof f.status === 'number').length,
      timeouts: failures.filter((f) => f.status === 'timeout').length,
      networkErrors: failures.filter((f) => f.status === 'network').length,
      rssBeforeMiB: Math.round(rssBefore / 2 ** 20),
      rssAfterMiB: Math.round(rssAfter / 2 ** 20),
      bySurface,
    }
    console.log(`fuzz summary ${JSON.stringify(summary)}`)
    const shown = failures
      .slice(0, 10)
      .map((f) => `${f.status} ${f.request.method} ${f.request.path.slice(0, 200)} ${JSON.stringify(f.request.headers).slice(0, 200)} → ${(f.detail ?? '').slice(0, 300)}`)
    if (process.env.PINFOLD_FUZZ_SHOW_LOG) console.log(coordinator.output().slice(-20000))
    assert.equal(summary.crashes, 0, `the coordinator died:\n${coordinator.output().slice(-3000)}`)
    assert.deepEqual(shown, [], `requests answered with 5xx, a hang or a reset (seed ${SEED})`)
    assert.deepEqual(controlProblems, [])
    assert.ok(outcomes.length >= Math.min(REQUESTS, 10_000) || seconds * 1000 >= TIME_BOUND_MS, 'the lane ran its requests')
    assert.ok(rssAfter < rssBefore + 256 * 2 ** 20, `RSS grew from ${summary.rssBeforeMiB} to ${summary.rssAfterMiB} MiB`)
    const health = await fetch(`${coordinator.url}/healthz`)
    assert.equal(health.status, 200, 'still serving after the lane')
  })
})
