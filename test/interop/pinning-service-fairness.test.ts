import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { importBytes, MemoryBlockstore } from '../../src/core/index.ts'
import { createGatewayHandler, type ServedHandler, serveHandler } from '../../src/transfer/index.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { until } from '../helpers/node-process.ts'

interface PinStatus {
  requestid: string
  status: string
  info: Record<string, string>
}

const MAX_QUEUED = 10

/**
 * Pinning Service starvation, against a real `pinfold serve`: one account naming many
 * origins that never answer must not hold up another account's request, each fetch has a
 * deadline, and an account's queue is capped (429 in the spec's error shape).
 */
describe('Pinning Service origin fetches: fair per account (real coordinator process)', () => {
  const store = new MemoryBlockstore()
  let coordinator: CoordinatorProcess
  let hog: string
  let other: string
  let tarpit: ServedHandler
  let fast: ServedHandler
  const held: (() => void)[] = []

  before(async () => {
    // answers nothing until the test ends: a slow origin holding its fetch slot
    tarpit = await serveHandler(
      (request) =>
        new Promise<Response>((resolve) => {
          const answer = () => resolve(new Response('gone', { status: 503 }))
          held.push(answer)
          request.signal.addEventListener('abort', answer)
        }),
    )
    fast = await serveHandler(createGatewayHandler({ source: store }))
    coordinator = await startCoordinatorProcess({
      env: {
        PINFOLD_PINNING_ALLOW_ORIGINS: '127.0.0.1',
        PINFOLD_PINNING_MAX_QUEUED_PER_ACCOUNT: String(MAX_QUEUED),
        PINFOLD_PINNING_FETCH_TIMEOUT_SECONDS: '4',
      },
    })
    hog = await coordinator.token()
    const created = await call(hog, 'POST', '/api/v1/accounts', { email: 'patient@example.com', password: 'a long enough password' })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const login = await call(undefined, 'POST', '/api/v1/auth/token', { email: 'patient@example.com', password: 'a long enough password' })
    other = (login.body as { accessToken: string }).accessToken
  })
  after(async () => {
    for (const answer of held) answer()
    await coordinator?.stop()
    await coordinator?.cleanup()
    await tarpit?.close()
    await fast?.close()
  })

  async function call(token: string | undefined, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (token) headers.authorization = `Bearer ${token}`
    const response = await fetch(`${coordinator.url}${path}`, { method, headers, body: JSON.stringify(body) })
    const text = await response.text()
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) }
  }

  const originOf = (server: ServedHandler) => `/ip4/127.0.0.1/tcp/${new URL(server.url).port}/http`
  const pin = (token: string, cid: string, server: ServedHandler) => call(token, 'POST', '/pinning/pins', { cid, origins: [originOf(server)] })
  const status = async (token: string, requestid: string) => (await call(token, 'GET', `/pinning/pins/${requestid}`)).body as PinStatus

  it('another account’s request is pinned promptly while one account fills the queue with a slow origin', async () => {
    const hogRequests: string[] = []
    for (let i = 0; i < MAX_QUEUED; i++) {
      const answer = await pin(hog, (await importBytes(randomBytes(100), new MemoryBlockstore())).cid.toString(), tarpit)
      assert.equal(answer.status, 202, JSON.stringify(answer.body))
      hogRequests.push((answer.body as PinStatus).requestid)
    }
    // over its cap: refused in the spec's error shape
    const refused = await pin(hog, (await importBytes(randomBytes(100), new MemoryBlockstore())).cid.toString(), tarpit)
    assert.equal(refused.status, 429, JSON.stringify(refused.body))
    assert.equal((refused.body as { error: { reason: string } }).error.reason, 'RATE_LIMITED')

    const started = Date.now()
    const cid = (await importBytes(randomBytes(200_000), store)).cid.toString()
    const added = await pin(other, cid, fast)
    assert.equal(added.status, 202, JSON.stringify(added.body))
    const done = await until(
      async () => {
        const s = await status(other, (added.body as PinStatus).requestid)
        return s.status === 'pinned' || s.status === 'failed' ? s : undefined
      },
      3_000, // well below the slow fetches' deadline: it did not wait for a slot to free up
      () => 'the other account’s request',
    )
    assert.equal(done.status, 'pinned', JSON.stringify(done.info))
    const elapsed = Date.now() - started
    assert.ok(elapsed < 3_000, `took ${elapsed} ms`)

    // the slow fetches end at their deadline, failed with the generic reason
    const first = await until(
      async () => {
        const s = await status(hog, hogRequests[0] as string)
        return s.status === 'failed' ? s : undefined
      },
      15_000,
      () => 'the slow request to fail at its deadline',
    )
    assert.equal(first.info.status_details, 'origin unreachable or refused')
  })
})
