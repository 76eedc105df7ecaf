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

const GENERIC = 'origin unreachable or refused'

/**
 * SSRF through Pinning Service `origins`: a real `pinfold serve` must not fetch from
 * loopback, private, link-local or other non-public addresses — not by literal, not by a
 * name resolving there, not by a redirect — unless the operator allow-listed them; and
 * what it tells the user about a failed origin must not reveal ports or HTTP statuses.
 */
describe('Pinning Service origins: SSRF guard (real coordinator process)', () => {
  const store = new MemoryBlockstore()
  let coordinator: CoordinatorProcess
  let token: string
  let loopback: ServedHandler
  let allowed: ServedHandler
  let redirector: ServedHandler
  let closed: ServedHandler

  before(async () => {
    const gateway = createGatewayHandler({ source: store })
    loopback = await serveHandler(gateway)
    // 127.0.0.2 is loopback too; the operator allow-lists only it
    allowed = await serveHandler(gateway, { host: '127.0.0.2' })
    redirector = await serveHandler(async (request) => Response.redirect(`${loopback.url}${new URL(request.url).pathname}?format=car`, 302), {
      host: '127.0.0.2',
    })
    closed = await serveHandler(gateway, { host: '127.0.0.2' })
    await closed.close()
    coordinator = await startCoordinatorProcess({ env: { PINFOLD_PINNING_ALLOW_ORIGINS: '127.0.0.2/32' } })
    token = await coordinator.token()
  })
  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
    for (const server of [loopback, allowed, redirector]) await server?.close()
  })

  const portOf = (server: ServedHandler) => new URL(server.url).port

  async function pinFrom(origin: string): Promise<PinStatus> {
    const cid = (await importBytes(randomBytes(5000), store)).cid.toString()
    const response = await fetch(`${coordinator.url}/pinning/pins`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cid, origins: [origin] }),
    })
    assert.equal(response.status, 202, await response.clone().text())
    const { requestid } = (await response.json()) as PinStatus
    return until(
      async () => {
        const got = (await (await fetch(`${coordinator.url}/pinning/pins/${requestid}`, { headers: { authorization: `Bearer ${token}` } })).json()) as PinStatus
        return got.status === 'pinned' || got.status === 'failed' ? got : undefined
      },
      20_000,
      () => `request for ${origin} never settled`,
    )
  }

  it('refuses loopback, private, link-local and IPv6 loopback literals with a generic reason', async () => {
    const port = portOf(loopback)
    for (const origin of [
      `/ip4/127.0.0.1/tcp/${port}/http`,
      `/ip4/10.0.0.1/tcp/${port}/http`,
      '/ip4/169.254.169.254/tcp/80/http',
      `/ip6/::1/tcp/${port}/http`,
      `/ip6/::ffff:127.0.0.1/tcp/${port}/http`,
    ]) {
      const status = await pinFrom(origin)
      assert.equal(status.status, 'failed', `${origin} was fetched`)
      assert.equal(status.info.status_details, GENERIC, origin)
    }
  })

  it('refuses a name that resolves to loopback', async () => {
    const status = await pinFrom(`/dns4/localhost/tcp/${portOf(loopback)}/http`)
    assert.equal(status.status, 'failed')
    assert.equal(status.info.status_details, GENERIC)
  })

  it('refuses an allowed origin that redirects to loopback', async () => {
    const status = await pinFrom(`/ip4/127.0.0.2/tcp/${portOf(redirector)}/http`)
    assert.equal(status.status, 'failed')
    assert.equal(status.info.status_details, GENERIC)
  })

  it('says the same for a closed port as for a refused address (no port scanner)', async () => {
    const status = await pinFrom(`/ip4/127.0.0.2/tcp/${portOf(closed)}/http`)
    assert.equal(status.status, 'failed')
    assert.equal(status.info.status_details, GENERIC)
  })

  it('fetches from an allow-listed range', async () => {
    const status = await pinFrom(`/ip4/127.0.0.2/tcp/${portOf(allowed)}/http`)
    assert.equal(status.status, 'pinned', JSON.stringify(status.info))
  })
})
