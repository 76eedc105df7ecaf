import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadCoordinatorConfig } from '../../src/coordinator/config/load-config.ts'
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/main.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'

const CID_A = 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD'
const CID_B = 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH'
const SAMPLE_SECONDS = 0.3

// biome-ignore lint/suspicious/noExplicitAny: test responses are checked field by field
type Json = any

async function call(base: string, method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : undefined }
}

async function waitFor<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (ok(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`)
    await sleep(50)
  }
}

async function tokenFor(base: string, email: string, password: string): Promise<string> {
  const r = await call(base, 'POST', '/api/v1/auth/token', undefined, { email, password })
  assert.equal(r.status, 200, JSON.stringify(r.body))
  return r.body.accessToken
}

describe('usage and billing routes (in-process coordinator, short sample interval)', () => {
  let dir: string
  let coordinator: RunningCoordinator
  let adminToken: string
  const accounts: { id: string; token: string }[] = []
  const get = (path: string, token: string) => call(coordinator.url, 'GET', path, token)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pinfold-usage-routes-'))
    const config = await loadCoordinatorConfig({
      flags: { dataDir: dir, listen: '127.0.0.1:0' },
      env: {
        PINFOLD_LOG_LEVEL: 'silent',
        PINFOLD_BILLING_SAMPLE_INTERVAL_SECONDS: String(SAMPLE_SECONDS),
        PINFOLD_BILLING_REQUEST_FLUSH_SECONDS: '0.2',
      },
    })
    coordinator = await startCoordinator(config)
    const admin = coordinator.adminCredentials
    assert.ok(admin)
    adminToken = await tokenFor(coordinator.url, admin.email, admin.password)
    const { registry } = coordinator.components
    for (const [email, cid, size] of [
      ['small@example.com', CID_A, 1_000_000_000],
      ['large@example.com', CID_B, 2_000_000_000],
    ] as const) {
      const account = await registry.accounts.create({ email, password: 'a-long-password' })
      await registry.entries.addFile(account.id, '/Library', { name: 'data.bin', cid, size })
      accounts.push({ id: account.id, token: await tokenFor(coordinator.url, email, 'a-long-password') })
    }
  })
  after(async () => {
    await coordinator?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('samples stored bytes into GB-hours proportional to bytes and time', async () => {
    const [small, large] = accounts as [{ id: string; token: string }, { id: string; token: string }]
    const { registry } = coordinator.components
    const started = Date.now()
    // samples taken once both accounts store their bytes record both with the same elapsed time
    const from = new Date(Date.now()).toISOString()
    await waitFor(
      'two storage samples',
      () => registry.usage.series(small.id, Date.parse(from), Date.now() + 1, 1),
      (points) => points.filter((p) => p.storage_byte_hours > 0).length >= 2,
    )
    await coordinator.components.usage.sampleStorage()
    const a = (await get(`/api/v1/usage?from=${from}`, small.token)).body
    const b = (await get(`/api/v1/usage?from=${from}`, large.token)).body
    assert.ok(a.storageGbHours > 0)
    assert.ok(Math.abs(b.storageByteHours / a.storageByteHours - 2) < 1e-9, `${b.storageByteHours} vs ${a.storageByteHours}`)
    // 1 GB stored for (at most) the time since the coordinator started
    const maxHours = (Date.now() - started + 5_000) / 3_600_000
    assert.ok(a.storageGbHours <= maxHours, `${a.storageGbHours} GB-h in at most ${maxHours} h`)
    assert.equal((await get('/api/v1/account', small.token)).body.storedBytes, 1_000_000_000)

    const all = (await get('/api/v1/usage', small.token)).body
    const series = await get('/api/v1/usage/series?bucket=hour', small.token)
    assert.equal(series.status, 200)
    assert.equal(series.body.bucket, 'hour')
    const total = series.body.points.reduce((sum: number, p: { storageByteHours: number }) => sum + p.storageByteHours, 0)
    assert.ok(Math.abs(total - all.storageByteHours) / all.storageByteHours < 0.5, 'series adds up to about the totals')
    assert.ok(series.body.points.some((p: { storedBytes: number }) => p.storedBytes > 0))
    assert.equal((await get('/api/v1/usage/series?bucket=minute', small.token)).status, 400)
    assert.equal((await get('/api/v1/usage?from=2020-01-02T00:00:00Z&to=2020-01-01T00:00:00Z', small.token)).status, 400)
    assert.equal((await get('/api/v1/usage?from=yesterday', small.token)).status, 400)
    const days = await get('/api/v1/usage/series?bucket=hour&from=2000-01-01T00:00:00Z&to=2030-01-01T00:00:00Z', small.token)
    assert.equal(days.status, 400)
  })

  it('counts authenticated requests per account after a flush', async () => {
    const [small] = accounts as [{ id: string; token: string }]
    const before = (await get('/api/v1/usage', small.token)).body.requests as number
    for (let i = 0; i < 5; i++) assert.equal((await get('/api/v1/account', small.token)).status, 200)
    await waitFor(
      'request counts',
      async () => (await coordinator.components.registry.usage.totals(small.id, 0, Date.now() + 1)).requests,
      (n) => n >= before + 6,
    )
    const after = (await get('/api/v1/usage', small.token)).body.requests as number
    assert.ok(after >= before + 6, `${before} → ${after}`)
  })

  it('returns the open period statement, one period by number, and others’ only to admins', async () => {
    const [small, large] = accounts as [{ id: string; token: string }, { id: string; token: string }]
    const list = await get('/api/v1/billing/statements', small.token)
    assert.equal(list.status, 200)
    assert.equal(list.body.currency, 'USD')
    assert.equal(list.body.prices.minimumCharge, '10.00')
    assert.equal(list.body.statements.length, 1)
    const [open] = list.body.statements
    assert.equal(open.period, 1)
    assert.equal(open.status, 'open')
    assert.equal(open.amountDue, '0.00')
    assert.match(open.total, /^\d+\.\d{2}$/)
    assert.ok(open.usage.storageGbHours > 0)
    const one = await get('/api/v1/billing/statements/1', small.token)
    assert.equal(one.status, 200)
    assert.equal(one.body.period, 1)
    assert.equal((await get('/api/v1/billing/statements/2', small.token)).status, 404)
    assert.equal((await get('/api/v1/billing/statements/0', small.token)).status, 400)
    assert.equal((await get(`/api/v1/billing/statements?accountId=${large.id}`, small.token)).status, 403)
    assert.equal((await get(`/api/v1/usage?accountId=${large.id}`, small.token)).status, 403)
    const asAdmin = await get(`/api/v1/billing/statements?accountId=${large.id}`, adminToken)
    assert.equal(asAdmin.status, 200)
    assert.equal(asAdmin.body.accountId, large.id)
    assert.equal((await get(`/api/v1/usage?accountId=${large.id}`, adminToken)).body.accountId, large.id)
    assert.equal((await get('/api/v1/billing/statements?accountId=nobody', adminToken)).status, 404)
  })
})

describe('usage and billing against a real `pinfold serve` process', () => {
  let server: CoordinatorProcess
  before(async () => {
    server = await startCoordinatorProcess({
      env: { PINFOLD_BILLING_SAMPLE_INTERVAL_SECONDS: '0.2', PINFOLD_BILLING_REQUEST_FLUSH_SECONDS: '0.2' },
    })
  })
  after(async () => {
    await server?.stop()
    await server?.cleanup()
  })

  it('creates a user, meters its requests and shows its open statement', async () => {
    const adminToken = await server.token()
    const created = await call(server.url, 'POST', '/api/v1/accounts', adminToken, { email: 'proc@example.com', password: 'proc-password' })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const token = await tokenFor(server.url, 'proc@example.com', 'proc-password')
    const me = await call(server.url, 'GET', '/api/v1/account', token)
    assert.equal(me.status, 200)
    assert.equal(me.body.email, 'proc@example.com')
    const usage = await waitFor(
      'requests to be flushed',
      async () => (await call(server.url, 'GET', '/api/v1/usage', token)).body,
      (u: Json) => u.requests >= 1,
    )
    assert.equal(usage.accountId, created.body.id)
    const statements = await call(server.url, 'GET', '/api/v1/billing/statements', token)
    assert.equal(statements.status, 200)
    assert.equal(statements.body.statements[0].status, 'open')
    const forbidden = await call(server.url, 'GET', '/api/v1/accounts', token)
    assert.equal(forbidden.status, 403)
    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    assert.match(metrics, /pinfold_accounts_created_total\{role="user"\} 1/)
  })
})
