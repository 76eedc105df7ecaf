import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'

/**
 * Authenticate before validating (issue 9 item 17), against a real `pinfold serve`: a
 * request without a valid token learns nothing about a route's parameters — it gets 401,
 * whatever is wrong with its path, query or body. With a token the same request is 400.
 */

type Probe = { method: string; path: string; body?: string; contentType?: string }

const INVALID: Probe[] = [
  { method: 'GET', path: '/api/v1/entries/not-an-id' },
  { method: 'GET', path: '/api/v1/entries?limit=lots' },
  { method: 'GET', path: '/api/v1/content' },
  { method: 'GET', path: '/api/v1/cids/x/content?download=maybe' },
  { method: 'POST', path: '/api/v1/share', body: '{"bogus":true}' },
  { method: 'POST', path: '/api/v1/keys', body: '{not json' },
  { method: 'PATCH', path: '/api/v1/accounts/nope', body: '{"role":"emperor"}' },
  { method: 'POST', path: '/api/v1/directories', body: '{}', contentType: 'text/plain' },
  { method: 'GET', path: '/api/v1/usage/series?from=yesterday' },
]

describe('authenticate before validating (real pinfold serve)', { timeout: 60_000 }, () => {
  let coordinator: CoordinatorProcess
  let token: string

  before(async () => {
    coordinator = await startCoordinatorProcess()
    token = await coordinator.token()
  })

  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  const send = (probe: Probe, authorization?: string) =>
    fetch(`${coordinator.url}${probe.path}`, {
      method: probe.method,
      headers: {
        ...(probe.body === undefined ? {} : { 'content-type': probe.contentType ?? 'application/json' }),
        ...(authorization === undefined ? {} : { authorization }),
      },
      ...(probe.body === undefined ? {} : { body: probe.body }),
    })

  it('no token, or a forged one, gets 401 from every authenticated route whatever its parameters', async () => {
    for (const probe of INVALID) {
      for (const authorization of [undefined, 'Bearer forged.token.value', 'Basic YWRtaW46YWRtaW4=']) {
        const response = await send(probe, authorization)
        const body = (await response.json()) as { error: { code: string; message: string } }
        assert.equal(response.status, 401, `${probe.method} ${probe.path} (${authorization ?? 'no token'}): ${JSON.stringify(body)}`)
        assert.equal(body.error.code, 'ERR_UNAUTHORIZED')
        assert.doesNotMatch(body.error.message, /must|property|querystring|params|body/i, 'no schema details')
      }
    }
  })

  it('with a valid token the same requests are refused for their parameters', async () => {
    for (const probe of INVALID) {
      const response = await send(probe, `Bearer ${token}`)
      assert.ok([400, 404, 415].includes(response.status), `${probe.method} ${probe.path}: ${response.status}`)
      await response.body?.cancel()
    }
  })

  it('the token exchange itself (unauthenticated by design) still validates its body', async () => {
    const response = await send({ method: 'POST', path: '/api/v1/auth/token', body: '{"apiKey":"pfk_x","expiresIn":"soon"}' })
    assert.equal(response.status, 400)
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'ERR_VALIDATION')
  })
})
