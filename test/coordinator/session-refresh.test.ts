import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { runPinfold } from '../helpers/run-pinfold.ts'

// Browser sessions against a real `pinfold serve`: a refresh cookie traded for access tokens,
// rotated on every renewal, and ended by everything that ends access tokens.

interface Signed {
  cookie: string
  setCookie: string
  accessToken: string
}

function cookieOf(response: Response): { cookie: string; setCookie: string } {
  const setCookie = response.headers.get('set-cookie') ?? ''
  return { cookie: setCookie.split(';')[0] ?? '', setCookie }
}

describe('browser sessions (refresh cookie) against pinfold serve', { timeout: 60_000 }, () => {
  let coordinator: CoordinatorProcess
  let adminToken: string
  const password = 'a-user-password-1'

  before(async () => {
    coordinator = await startCoordinatorProcess({ env: { PINFOLD_AUTH_FAILED_LOGIN_DELAY_MS: '0' } })
    adminToken = await coordinator.token()
  })
  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  async function call(path: string, init: { method?: string; token?: string; cookie?: string; body?: unknown } = {}): Promise<Response> {
    const headers: Record<string, string> = {}
    if (init.token) headers.authorization = `Bearer ${init.token}`
    if (init.cookie) headers.cookie = init.cookie
    if (init.body !== undefined) headers['content-type'] = 'application/json'
    return fetch(`${coordinator.url}${path}`, {
      method: init.method ?? 'POST',
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    })
  }

  async function newUser(): Promise<{ id: string; email: string }> {
    const email = `user-${crypto.randomUUID()}@example.com`
    const response = await call('/api/v1/accounts', { token: adminToken, body: { email, password } })
    assert.equal(response.status, 201, await response.clone().text())
    return { id: ((await response.json()) as { id: string }).id, email }
  }

  async function signIn(email: string, pass = password): Promise<Signed> {
    const response = await call('/api/v1/auth/token', { body: { email, password: pass, session: true } })
    assert.equal(response.status, 200, await response.clone().text())
    return { ...cookieOf(response), accessToken: ((await response.json()) as { accessToken: string }).accessToken }
  }

  async function refresh(cookie: string): Promise<{ status: number; code?: string; cookie: string; setCookie: string; accessToken?: string }> {
    const response = await call('/api/v1/auth/refresh', { cookie })
    const body = (await response.json()) as { accessToken?: string; error?: { code: string } }
    return { status: response.status, code: body.error?.code, ...cookieOf(response), accessToken: body.accessToken }
  }

  it('sign-in sets an HttpOnly, SameSite=Strict cookie scoped to /api/v1/auth; refresh rotates it and gives a working token', async () => {
    const user = await newUser()
    const signed = await signIn(user.email)
    assert.match(signed.cookie, /^pinfold_session=pfr_/)
    assert.match(signed.setCookie, /HttpOnly/)
    assert.match(signed.setCookie, /SameSite=Strict/)
    assert.match(signed.setCookie, /Path=\/api\/v1\/auth/)
    assert.doesNotMatch(signed.setCookie, /Secure/, 'plain http: a Secure cookie would never be sent back')
    let cookie = signed.cookie
    for (let round = 0; round < 3; round++) {
      const renewed = await refresh(cookie)
      assert.equal(renewed.status, 200)
      assert.notEqual(renewed.cookie, cookie, 'rotated on every renewal')
      const account = await call('/api/v1/account', { method: 'GET', token: renewed.accessToken })
      assert.equal(account.status, 200)
      assert.equal(((await account.json()) as { email: string }).email, user.email)
      cookie = renewed.cookie
    }
  })

  it('no session without asking for one, and API-key tokens never start one', async () => {
    const user = await newUser()
    const plain = await call('/api/v1/auth/token', { body: { email: user.email, password } })
    assert.equal(plain.headers.get('set-cookie'), null)
    const keyed = await call('/api/v1/auth/token', { body: { apiKey: coordinator.admin.apiKey } })
    assert.equal(keyed.headers.get('set-cookie'), null)
    const none = await refresh('')
    assert.equal(none.status, 401)
    assert.equal(none.code, 'ERR_SESSION_ENDED')
    const forged = await refresh('pinfold_session=pfr_forged')
    assert.equal(forged.status, 401)
  })

  it('sign-out ends the session: its cookie no longer renews', async () => {
    const user = await newUser()
    const signed = await signIn(user.email)
    const out = await call('/api/v1/auth/sign-out', { token: signed.accessToken, cookie: signed.cookie, body: {} })
    assert.equal(out.status, 204)
    assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/)
    const after = await refresh(signed.cookie)
    assert.equal(after.status, 401)
    assert.equal(after.code, 'ERR_SESSION_ENDED')
  })

  it('a password change, a disable and a role change end every session at once', async () => {
    const changed = await newUser()
    const session1 = await signIn(changed.email)
    const patch = await call('/api/v1/account', { method: 'PATCH', token: session1.accessToken, body: { currentPassword: password, password: 'the-new-password-2' } })
    assert.equal(patch.status, 204)
    assert.equal((await refresh(session1.cookie)).status, 401, 'password change')
    // the new password starts a new session that works
    assert.equal((await refresh((await signIn(changed.email, 'the-new-password-2')).cookie)).status, 200)

    for (const body of [{ disabled: true }, { role: 'admin' }, { password: 'reset-by-admin-3' }]) {
      const user = await newUser()
      const signed = await signIn(user.email)
      const response = await call(`/api/v1/accounts/${user.id}`, { method: 'PATCH', token: adminToken, body })
      assert.equal(response.status, 200)
      const renewed = await refresh(signed.cookie)
      assert.equal(renewed.status, 401, JSON.stringify(body))
      assert.equal(renewed.code, 'ERR_SESSION_ENDED')
    }
  })

  it('sign-out everywhere ends the sessions of other browsers', async () => {
    const user = await newUser()
    const laptop = await signIn(user.email)
    const phone = await signIn(user.email)
    assert.equal((await call('/api/v1/auth/sign-out', { token: laptop.accessToken, body: { everywhere: true } })).status, 204)
    assert.equal((await refresh(phone.cookie)).status, 401)
  })

  it('pinfold account password changes the password: the new one signs in, the old one no longer does', async () => {
    const user = await newUser()
    const signed = await signIn(user.email)
    const created = await call('/api/v1/keys', { token: signed.accessToken, body: { description: 'cli', scopes: ['read', 'write'] } })
    assert.equal(created.status, 201)
    const { secret } = (await created.json()) as { secret: string }
    const configDir = await mkdtemp(join(tmpdir(), 'pinfold-cli-password-'))
    try {
      const cli = (args: string[], env: Record<string, string> = {}) => runPinfold(args, { env: { PINFOLD_CONFIG_DIR: configDir, ...env } })
      assert.equal((await cli(['login', '--url', coordinator.url, '--api-key', secret])).code, 0)
      const wrong = await cli(['account', 'password'], { PINFOLD_PASSWORD: 'not-the-password', PINFOLD_NEW_PASSWORD: 'cli-new-password-4' })
      assert.notEqual(wrong.code, 0)
      assert.match(wrong.stderr, /current password is wrong/)
      const changed = await cli(['account', 'password'], { PINFOLD_PASSWORD: password, PINFOLD_NEW_PASSWORD: 'cli-new-password-4' })
      assert.equal(changed.code, 0, changed.stderr)
      assert.match(changed.stdout, /password changed/)
      const old = await call('/api/v1/auth/token', { body: { email: user.email, password } })
      assert.equal(old.status, 401)
      await signIn(user.email, 'cli-new-password-4')
      // the CLI keeps working: its stored token ended with the change, the key gets a new one
      assert.equal((await cli(['keys', 'ls'])).code, 0)
    } finally {
      await rm(configDir, { recursive: true, force: true })
    }
  })
})
