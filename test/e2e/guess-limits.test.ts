import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorMessage, loadOrCreateNodeIdentity, type NodeIdentity } from '../../src/cluster/index.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { joinOnce, signedJoin } from '../helpers/fake-node.ts'

/**
 * Guess limits against a real `pinfold serve`, with short windows set by configuration:
 * sign-in per address and per account (from many addresses), password changes per account,
 * and cluster-secret guesses on the node control socket per address. Loopback addresses
 * 127.0.0.x stand in for distinct clients.
 */
const PER_ADDRESS = 5
const PER_ACCOUNT = 4
const ACCOUNT_WINDOW_SECONDS = 3
const JOIN_FAILURES = 3
const JOIN_WINDOW_SECONDS = 2
const SECRET = 'guess-limits-cluster-secret-0123456789'

/** POST JSON from a chosen local address: status and parsed body. */
function postFrom(
  localAddress: string,
  url: string,
  path: string,
  body: unknown,
  token?: string,
  method = 'POST',
): Promise<{ status: number; body: { error?: { code: string } } & Record<string, unknown> }> {
  const target = new URL(path, url)
  const payload = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method,
        localAddress,
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      },
      (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          text += chunk
        })
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text ? JSON.parse(text) : {} }))
      },
    )
    req.on('error', reject)
    req.end(payload)
  })
}

/** Polls until `attempt` succeeds, bounded by `boundMs`. */
async function eventually<T>(attempt: () => Promise<T | undefined>, boundMs: number, what: string): Promise<T> {
  const deadline = Date.now() + boundMs
  for (;;) {
    const result = await attempt()
    if (result !== undefined) return result
    assert.ok(Date.now() < deadline, `${what} within ${boundMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

const joinWith = (url: string, identity: NodeIdentity, secret: string) =>
  joinOnce(url, (nonce) => signedJoin(identity, nonce, secret, 'guesser'))

const outcome = (received: CoordinatorMessage[]) => {
  const last = received.find((m) => m.type === 'refused' || m.type === 'welcome')
  return last?.type === 'refused' ? last.code : last?.type
}

describe('guess limits (real pinfold serve)', () => {
  let coordinator: CoordinatorProcess
  let admin: string
  let workDir: string

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'pinfold-guess-'))
    coordinator = await startCoordinatorProcess({
      env: {
        PINFOLD_AUTH_FAILED_LOGIN_DELAY_MS: '0',
        PINFOLD_AUTH_LOGIN_ATTEMPTS_PER_MINUTE: String(PER_ADDRESS),
        PINFOLD_AUTH_PASSWORD_FAILURES_PER_ACCOUNT: String(PER_ACCOUNT),
        PINFOLD_AUTH_PASSWORD_FAILURE_WINDOW_SECONDS: String(ACCOUNT_WINDOW_SECONDS),
        PINFOLD_CLUSTER_SECRET: SECRET,
        PINFOLD_CLUSTER_JOIN_FAILURES_PER_ADDRESS: String(JOIN_FAILURES),
        PINFOLD_CLUSTER_JOIN_FAILURE_WINDOW_SECONDS: String(JOIN_WINDOW_SECONDS),
      },
    })
    admin = await coordinator.token()
  })
  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
    if (workDir) await rm(workDir, { recursive: true, force: true })
  })

  let nextAddress = 10
  const freshAddress = () => `127.0.0.${nextAddress++}`

  async function createAccount() {
    const email = `g-${randomBytes(4).toString('hex')}@example.com`
    const password = `pw-${randomBytes(8).toString('hex')}`
    const created = await postFrom('127.0.0.1', coordinator.url, '/api/v1/accounts', { email, password }, admin)
    assert.equal(created.status, 201, JSON.stringify(created.body))
    return { email, password }
  }

  it('sign-in is limited per address; the right password still works from another address', async () => {
    const { email, password } = await createAccount()
    const attacker = freshAddress()
    let limitedAt: number | undefined
    for (let attempt = 1; attempt <= PER_ADDRESS + 3 && limitedAt === undefined; attempt++) {
      // a different email each time: only the address limit applies
      const answer = await postFrom(attacker, coordinator.url, '/api/v1/auth/token', { email: `nobody${attempt}@example.com`, password: 'wrong-password' })
      if (answer.status === 429) limitedAt = attempt
      else assert.equal(answer.status, 401)
    }
    assert.equal(limitedAt, PER_ADDRESS + 1, 'the address is limited after its budget')
    const elsewhere = await postFrom(freshAddress(), coordinator.url, '/api/v1/auth/token', { email, password })
    assert.equal(elsewhere.status, 200)
  })

  it('wrong passwords for one account from many addresses block it for the window, then the right one works', async () => {
    const { email, password } = await createAccount()
    for (let attempt = 1; attempt <= PER_ACCOUNT; attempt++) {
      const answer = await postFrom(freshAddress(), coordinator.url, '/api/v1/auth/token', { email, password: `guess-${attempt}` })
      assert.equal(answer.status, 401)
    }
    const blocked = await postFrom(freshAddress(), coordinator.url, '/api/v1/auth/token', { email, password: 'guess-next' })
    assert.equal(blocked.status, 429)
    assert.equal(blocked.body.error?.code, 'ERR_RATE_LIMITED')
    // while blocked even the right password is refused: a blocked guess tells nothing
    const right = await postFrom(freshAddress(), coordinator.url, '/api/v1/auth/token', { email, password })
    assert.equal(right.status, 429)
    // an unknown email is limited alike (the limit does not reveal which emails exist)
    const unknown = `missing-${randomBytes(4).toString('hex')}@example.com`
    for (let attempt = 1; attempt <= PER_ACCOUNT; attempt++) await postFrom(freshAddress(), coordinator.url, '/api/v1/auth/token', { email: unknown, password: 'x' })
    assert.equal((await postFrom(freshAddress(), coordinator.url, '/api/v1/auth/token', { email: unknown, password: 'x' })).status, 429)
    await eventually(
      async () => {
        const answer = await postFrom(freshAddress(), coordinator.url, '/api/v1/auth/token', { email, password })
        return answer.status === 200 ? true : undefined
      },
      ACCOUNT_WINDOW_SECONDS * 1000 + 3_000,
      'the right password signs in after the window',
    )
  })

  it('password changes with a token are limited per account', async () => {
    const { email, password } = await createAccount()
    const login = await postFrom(freshAddress(), coordinator.url, '/api/v1/auth/token', { email, password })
    const token = login.body.accessToken as string
    const change = (currentPassword: string) =>
      postFrom(freshAddress(), coordinator.url, '/api/v1/account', { currentPassword, password: `new-${randomBytes(6).toString('hex')}` }, token, 'PATCH')
    for (let attempt = 1; attempt <= PER_ACCOUNT; attempt++) assert.equal((await change(`guess-${attempt}`)).status, 403)
    const blocked = await change('guess-next')
    assert.equal(blocked.status, 429)
    assert.equal(blocked.body.error?.code, 'ERR_RATE_LIMITED')
    assert.equal((await change(password)).status, 429, 'the right password is refused while blocked')
    await eventually(
      async () => ((await change(password)).status === 204 ? true : undefined),
      ACCOUNT_WINDOW_SECONDS * 1000 + 3_000,
      'the right current password changes it after the window',
    )
  })

  it('cluster-secret guesses on the control socket are limited per address', async () => {
    const identity = await loadOrCreateNodeIdentity(workDir)
    for (let attempt = 1; attempt <= JOIN_FAILURES; attempt++) {
      assert.equal(outcome(await joinWith(coordinator.url, identity, `wrong-secret-guess-${attempt}`)), 'ERR_CLUSTER_SECRET')
    }
    const blocked = await joinWith(coordinator.url, identity, 'wrong-secret-guess-next')
    assert.equal(outcome(blocked), 'ERR_RATE_LIMITED')
    assert.ok(!blocked.some((m) => m.type === 'challenge'), 'a blocked address gets no challenge to answer')
    assert.equal(outcome(await joinWith(coordinator.url, identity, SECRET)), 'ERR_RATE_LIMITED', 'even the right secret, while blocked')
    await eventually(
      async () => ((outcome(await joinWith(coordinator.url, identity, SECRET)) === 'welcome') ? true : undefined),
      JOIN_WINDOW_SECONDS * 1000 + 3_000,
      'the right secret joins after the window',
    )
  })
})
