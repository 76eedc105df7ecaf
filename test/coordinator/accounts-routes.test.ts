import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { loadCoordinatorConfig } from '../../src/coordinator/config/load-config.ts'
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/main.ts'

describe('account routes (in-process coordinator)', () => {
  let dir: string
  let coordinator: RunningCoordinator
  let adminToken: string

  async function call(method: string, path: string, token?: string, body?: unknown) {
    const response = await fetch(`${coordinator.url}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await response.text()
    // biome-ignore lint/suspicious/noExplicitAny: test responses are checked field by field
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as any }
  }

  async function login(email: string, password: string): Promise<{ status: number; token?: string }> {
    const r = await call('POST', '/api/v1/auth/token', undefined, { email, password })
    return { status: r.status, token: r.body?.accessToken }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pinfold-accounts-'))
    const config = await loadCoordinatorConfig({
      flags: { dataDir: dir, listen: '127.0.0.1:0' },
      env: {
        PINFOLD_LOG_LEVEL: 'silent',
        PINFOLD_AUTH_FAILED_LOGIN_DELAY_MS: '0',
        PINFOLD_LIMITS_DEFAULT_QUOTA_STORAGE_BYTES: '5000000',
      },
    })
    coordinator = await startCoordinator(config)
    const admin = coordinator.adminCredentials
    assert.ok(admin)
    const { token } = await login(admin.email, admin.password)
    assert.ok(token)
    adminToken = token
  })
  after(async () => {
    await coordinator?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('an admin creates a user with default quotas; the user sees their account', async () => {
    const created = await call('POST', '/api/v1/accounts', adminToken, { email: 'alice@example.com', password: 'alice-password' })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    assert.equal(created.body.role, 'user')
    assert.equal(created.body.quotaStorageBytes, 5_000_000, 'limits.defaultQuotaStorageBytes')
    assert.equal(created.body.quotaUploadBytes, null, '0 = unlimited')
    const { token } = await login('alice@example.com', 'alice-password')
    assert.ok(token)
    const me = await call('GET', '/api/v1/account', token)
    assert.equal(me.status, 200)
    assert.equal(me.body.id, created.body.id)
    assert.equal(me.body.email, 'alice@example.com')
    assert.equal(me.body.storedBytes, 0)
    assert.equal(me.body.usage.period, 1)
    assert.equal(me.body.usage.requests, 0)
    const explicit = await call('POST', '/api/v1/accounts', adminToken, {
      email: 'Carol@Example.com',
      role: 'admin',
      quotaStorageBytes: 0,
      quotaUploadBytes: 1234,
    })
    assert.equal(explicit.status, 201)
    assert.equal(explicit.body.quotaStorageBytes, null)
    assert.equal(explicit.body.quotaUploadBytes, 1234)
    assert.equal(explicit.body.role, 'admin')
  })

  it('refuses duplicate (case-insensitive) and invalid emails and bad bodies', async () => {
    await call('POST', '/api/v1/accounts', adminToken, { email: 'dup@example.com' })
    const dup = await call('POST', '/api/v1/accounts', adminToken, { email: 'DUP@example.com' })
    assert.equal(dup.status, 409)
    assert.equal(dup.body.error.code, 'ERR_CONFLICT')
    for (const body of [{ email: 'not-an-email' }, { email: 'x@example.com', role: 'root' }, { email: 'y@example.com', password: 'short' }, { email: 'z@example.com', quotaStorageBytes: -1 }, { email: 'w@example.com', extra: 1 }]) {
      const r = await call('POST', '/api/v1/accounts', adminToken, body)
      assert.equal(r.status, 400, JSON.stringify(body))
      assert.ok(r.body.error.code)
    }
  })

  it('a user cannot call the admin routes (403 ERR_FORBIDDEN)', async () => {
    await call('POST', '/api/v1/accounts', adminToken, { email: 'bob@example.com', password: 'bob-password' })
    const { token } = await login('bob@example.com', 'bob-password')
    const me = await call('GET', '/api/v1/account', token)
    for (const [method, path, body] of [
      ['POST', '/api/v1/accounts', { email: 'eve@example.com' }],
      ['GET', '/api/v1/accounts', undefined],
      ['GET', `/api/v1/accounts/${me.body.id}`, undefined],
      ['PATCH', `/api/v1/accounts/${me.body.id}`, { quotaStorageBytes: 0 }],
      ['GET', '/api/v1/billing/statements?accountId=someone', undefined],
    ] as const) {
      const r = await call(method, path, token, body)
      assert.equal(r.status, 403, `${method} ${path}`)
      assert.equal(r.body.error.code, 'ERR_FORBIDDEN')
    }
    assert.equal((await call('GET', '/api/v1/account')).status, 401)
  })

  it('quota, role and disabled updates take effect; a disabled account gets no token', async () => {
    const created = await call('POST', '/api/v1/accounts', adminToken, { email: 'dave@example.com', password: 'dave-password' })
    const id = created.body.id as string
    const patched = await call('PATCH', `/api/v1/accounts/${id}`, adminToken, { quotaStorageBytes: 10_000, quotaUploadBytes: 0 })
    assert.equal(patched.status, 200)
    const { token } = await login('dave@example.com', 'dave-password')
    const me = await call('GET', '/api/v1/account', token)
    assert.equal(me.body.quotaStorageBytes, 10_000)
    assert.equal(me.body.quotaUploadBytes, null)

    assert.equal((await call('PATCH', `/api/v1/accounts/${id}`, adminToken, { disabled: true })).body.disabled, true)
    assert.equal((await login('dave@example.com', 'dave-password')).status, 401)
    const key = await call('POST', '/api/v1/keys', adminToken, { description: 'x' })
    assert.equal(key.status, 201) // the admin's own key still works
    await call('PATCH', `/api/v1/accounts/${id}`, adminToken, { disabled: false })
    assert.equal((await login('dave@example.com', 'dave-password')).status, 200)

    const detail = await call('GET', `/api/v1/accounts/${id}`, adminToken)
    assert.equal(detail.status, 200)
    assert.equal(detail.body.storedBytes, 0)
    assert.equal((await call('GET', '/api/v1/accounts/nope', adminToken)).status, 404)
    assert.equal((await call('PATCH', '/api/v1/accounts/nope', adminToken, { disabled: true })).status, 404)
    assert.equal((await call('PATCH', `/api/v1/accounts/${id}`, adminToken, {})).status, 400)

    const adminId = (await call('GET', '/api/v1/account', adminToken)).body.id
    const self = await call('PATCH', `/api/v1/accounts/${adminId}`, adminToken, { disabled: true })
    assert.equal(self.status, 400)
  })

  it('changes the caller’s password only with the current one', async () => {
    await call('POST', '/api/v1/accounts', adminToken, { email: 'erin@example.com', password: 'erin-password' })
    const { token } = await login('erin@example.com', 'erin-password')
    const wrong = await call('PATCH', '/api/v1/account', token, { currentPassword: 'nope', password: 'new-erin-password' })
    assert.equal(wrong.status, 403)
    const ok = await call('PATCH', '/api/v1/account', token, { currentPassword: 'erin-password', password: 'new-erin-password' })
    assert.equal(ok.status, 204)
    assert.equal((await login('erin@example.com', 'erin-password')).status, 401)
    assert.equal((await login('erin@example.com', 'new-erin-password')).status, 200)
  })

  it('lists accounts in pages and documents the routes in OpenAPI', async () => {
    const seen: string[] = []
    let cursor: string | undefined
    do {
      const r = await call('GET', `/api/v1/accounts?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, adminToken)
      assert.equal(r.status, 200)
      assert.ok(r.body.accounts.length <= 2)
      seen.push(...r.body.accounts.map((a: { email: string }) => a.email))
      cursor = r.body.cursor
    } while (cursor)
    assert.ok(seen.includes('alice@example.com') && seen.includes('bob@example.com'))
    assert.equal(new Set(seen).size, seen.length)
    assert.equal((await call('GET', '/api/v1/accounts?limit=0', adminToken)).status, 400)
    const doc = (await call('GET', '/api/v1/openapi.json')).body
    for (const path of ['/api/v1/account', '/api/v1/accounts', '/api/v1/accounts/{id}', '/api/v1/usage', '/api/v1/usage/series', '/api/v1/billing/statements', '/api/v1/billing/statements/{period}']) {
      assert.ok(doc.paths[path], path)
    }
  })
})
