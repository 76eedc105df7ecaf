import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { createTestDatabase, POSTGRES_MISSING } from '../helpers/postgres-database.ts'

/**
 * Revocation against real `pinfold serve` processes: a live access token stops working
 * within the revocation window (set to 1 s here) after its key is revoked, its account is
 * disabled, demoted or changes password, or it is signed out — on every replica.
 */
const WINDOW_SECONDS = 1
const env = { PINFOLD_AUTH_REVOCATION_CHECK_SECONDS: String(WINDOW_SECONDS) }

type Api = (token: string | undefined, method: string, path: string, body?: unknown) => Promise<Response>

function apiOf(url: string): Api {
  return (token, method, path, body) =>
    fetch(`${url}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
}

async function json<T>(response: Response, status: number): Promise<T> {
  const text = await response.text()
  assert.equal(response.status, status, text)
  return (text ? JSON.parse(text) : undefined) as T
}

async function passwordToken(api: Api, email: string, password: string): Promise<string> {
  return (await json<{ accessToken: string }>(await api(undefined, 'POST', '/api/v1/auth/token', { email, password }), 200)).accessToken
}

/** Creates an account and returns its id, credentials and a password-login token. */
async function createAccount(api: Api, adminToken: string, role: 'user' | 'admin' = 'user') {
  const email = `u-${randomBytes(4).toString('hex')}@example.com`
  const password = `pw-${randomBytes(8).toString('hex')}`
  const account = await json<{ id: string }>(await api(adminToken, 'POST', '/api/v1/accounts', { email, password, role }), 201)
  return { id: account.id, email, password, token: await passwordToken(api, email, password) }
}

/**
 * Polls `request` until it answers 401, bounded by the revocation window plus slack, and
 * returns how long that took. Fails if the token still works after the bound.
 */
async function refusedWithin(request: () => Promise<Response>, boundMs = WINDOW_SECONDS * 1000 + 2_000): Promise<number> {
  const started = Date.now()
  for (;;) {
    const response = await request()
    await response.body?.cancel()
    if (response.status === 401) return Date.now() - started
    assert.ok(response.status < 300, `unexpected status ${response.status}`)
    assert.ok(Date.now() - started < boundMs, `the token still works ${Date.now() - started} ms after revocation`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('token revocation (real pinfold serve)', () => {
  let coordinator: CoordinatorProcess
  let api: Api
  let admin: string

  before(async () => {
    coordinator = await startCoordinatorProcess({ env })
    api = apiOf(coordinator.url)
    admin = await coordinator.token()
  })
  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  it('refuses a revoked key’s token within the window; it cannot mint a new key', async () => {
    const user = await createAccount(api, admin)
    const created = await json<{ key: { id: string }; secret: string }>(
      await api(user.token, 'POST', '/api/v1/keys', { description: 'ci', expiresInDays: null }),
      201,
    )
    const keyToken = await coordinator.token(created.secret)
    await json(await api(keyToken, 'GET', '/api/v1/account'), 200)
    await json(await api(user.token, 'DELETE', `/api/v1/keys/${created.key.id}`), 204)
    await refusedWithin(() => api(keyToken, 'GET', '/api/v1/account'))
    const mint = await api(keyToken, 'POST', '/api/v1/keys', { description: 'backdoor', expiresInDays: null })
    assert.equal(mint.status, 401)
    // the account's other sessions are unaffected
    await json(await api(user.token, 'GET', '/api/v1/account'), 200)
  })

  it('an open event stream ends when its account is disabled', async () => {
    const user = await createAccount(api, admin)
    const stream = await api(user.token, 'GET', '/api/v1/events')
    assert.equal(stream.status, 200)
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader()
    await reader.read() // ": connected"
    await json(await api(admin, 'PATCH', `/api/v1/accounts/${user.id}`, { disabled: true }), 200)
    const started = Date.now()
    const bound = WINDOW_SECONDS * 1000 + 3_000
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'open'>((resolve) => {
      timer = setTimeout(() => resolve('open'), bound)
    })
    const ended = async (): Promise<'ended'> => {
      for (;;) if ((await reader.read()).done) return 'ended'
    }
    const outcome = await Promise.race([ended(), timeout])
    clearTimeout(timer)
    if (outcome === 'open') await reader.cancel()
    assert.equal(outcome, 'ended', `the stream was still open ${Date.now() - started} ms after the account was disabled`)
  })

  it('a disabled account can neither read nor write with its live token', async () => {
    const user = await createAccount(api, admin)
    await json(await api(user.token, 'POST', '/api/v1/directories', { path: '/Library/before' }), 201)
    await json(await api(admin, 'PATCH', `/api/v1/accounts/${user.id}`, { disabled: true }), 200)
    await refusedWithin(() => api(user.token, 'GET', '/api/v1/entries?path=/Library'))
    const write = await api(user.token, 'POST', '/api/v1/directories', { path: '/Library/after' })
    assert.equal(write.status, 401)
  })

  it('a demoted admin’s old token cannot use admin routes or re-promote itself', async () => {
    const second = await createAccount(api, admin, 'admin')
    await json(await api(second.token, 'GET', '/api/v1/accounts'), 200)
    await json(await api(admin, 'PATCH', `/api/v1/accounts/${second.id}`, { role: 'user' }), 200)
    await refusedWithin(() => api(second.token, 'GET', '/api/v1/accounts'))
    const promote = await api(second.token, 'PATCH', `/api/v1/accounts/${second.id}`, { role: 'admin' })
    assert.equal(promote.status, 401)
    const backdoor = await api(second.token, 'POST', '/api/v1/accounts', { email: 'backdoor@example.com', password: 'x'.repeat(12), role: 'admin' })
    assert.equal(backdoor.status, 401)
    // signing in again gives a user token: admin routes are forbidden
    const fresh = await passwordToken(api, second.email, second.password)
    assert.equal((await api(fresh, 'GET', '/api/v1/accounts')).status, 403)
    const account = await json<{ role: string }>(await api(admin, 'GET', `/api/v1/accounts/${second.id}`), 200)
    assert.equal(account.role, 'user')
  })

  it('a password change ends every older session; the new password signs in', async () => {
    const user = await createAccount(api, admin)
    const otherSession = await passwordToken(api, user.email, user.password)
    const password = `new-${randomBytes(8).toString('hex')}`
    await json(await api(user.token, 'PATCH', '/api/v1/account', { currentPassword: user.password, password }), 204)
    await refusedWithin(() => api(otherSession, 'GET', '/api/v1/account'))
    assert.equal((await api(user.token, 'GET', '/api/v1/account')).status, 401)
    const fresh = await passwordToken(api, user.email, password)
    await json(await api(fresh, 'GET', '/api/v1/account'), 200)
  })

  it('sign-out ends that session at once; sign-out everywhere ends all of them', async () => {
    const user = await createAccount(api, admin)
    const second = await passwordToken(api, user.email, user.password)
    await json(await api(user.token, 'POST', '/api/v1/auth/sign-out', {}), 204)
    assert.equal((await api(user.token, 'GET', '/api/v1/account')).status, 401)
    await json(await api(second, 'GET', '/api/v1/account'), 200)
    const third = await passwordToken(api, user.email, user.password)
    await json(await api(third, 'POST', '/api/v1/auth/sign-out', { everywhere: true }), 204)
    assert.equal((await api(second, 'GET', '/api/v1/account')).status, 401)
    assert.equal((await api(third, 'GET', '/api/v1/account')).status, 401)
    const fresh = await passwordToken(api, user.email, user.password)
    await json(await api(fresh, 'GET', '/api/v1/account'), 200)
  })
})

describe('token revocation across two coordinators on one PostgreSQL registry', () => {
  let first: CoordinatorProcess | undefined
  let second: CoordinatorProcess | undefined
  let drop: (() => Promise<void>) | undefined

  before(async () => {
    const database = await createTestDatabase()
    if (!database) {
      if (process.env.CI) throw new Error(`${POSTGRES_MISSING} (required when CI is set)`)
      return
    }
    drop = database.drop
    const shared = { ...env, PINFOLD_AUTH_TOKEN_SECRET: randomBytes(32).toString('base64url') }
    first = await startCoordinatorProcess({ db: database.url, env: shared })
    second = await startCoordinatorProcess({ db: database.url, env: shared, admin: first.admin })
  })
  after(async () => {
    await first?.stop()
    await second?.stop()
    await first?.cleanup()
    await second?.cleanup()
    await drop?.()
  })

  it('a key revoked on one replica stops its token on the other within the window', async (context) => {
    if (!first || !second) return context.skip(POSTGRES_MISSING)
    const onFirst = apiOf(first.url)
    const onSecond = apiOf(second.url)
    const admin = await first.token()
    const user = await createAccount(onFirst, admin)
    const created = await json<{ key: { id: string }; secret: string }>(await onFirst(user.token, 'POST', '/api/v1/keys', {}), 201)
    const keyToken = await first.token(created.secret)
    await json(await onSecond(keyToken, 'GET', '/api/v1/account'), 200)
    await json(await onFirst(user.token, 'DELETE', `/api/v1/keys/${created.key.id}`), 204)
    const elapsed = await refusedWithin(() => onSecond(keyToken, 'GET', '/api/v1/account'))
    assert.ok(elapsed <= WINDOW_SECONDS * 1000 + 1_000, `refused after ${elapsed} ms`)
    await json(await onSecond(admin, 'PATCH', `/api/v1/accounts/${user.id}`, { disabled: true }), 200)
    await refusedWithin(() => onFirst(user.token, 'GET', '/api/v1/account'))
  })
})
