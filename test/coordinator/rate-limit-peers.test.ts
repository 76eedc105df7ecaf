import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { loadOrCreateNodeIdentity, parseCoordinatorMessage } from '../../src/cluster/index.ts'
import { loadCoordinatorConfig } from '../../src/coordinator/config/load-config.ts'
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/main.ts'
import { signedJoin } from '../helpers/fake-node.ts'

const SECRET = 'test-cluster-secret-0123456789'
const LIMIT = 5
const CID = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'

/** Joins over the control WebSocket and returns the welcome's peer token (socket left open). */
async function joinForToken(url: string, home: string): Promise<{ token: string; ws: WebSocket }> {
  const identity = await loadOrCreateNodeIdentity(home)
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/nodes/connect`)
  const token = await new Promise<string>((resolve, reject) => {
    ws.addEventListener('close', () => reject(new Error('closed before welcome')))
    ws.addEventListener('message', (event) => {
      const message = parseCoordinatorMessage(String(event.data))
      if (message.type === 'challenge') {
        ws.send(JSON.stringify(signedJoin(identity, new Uint8Array(Buffer.from(message.nonce, 'base64')), SECRET)))
      } else if (message.type === 'welcome') resolve(message.peerToken)
      else if (message.type === 'refused') reject(new Error(message.message))
    })
  })
  return { token, ws }
}

describe('rate limits: storage nodes are exempt, users are not', () => {
  let dir: string
  let coordinator: RunningCoordinator

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pinfold-ratelimit-'))
    const config = await loadCoordinatorConfig({
      flags: { dataDir: dir, listen: '127.0.0.1:0' },
      env: { PINFOLD_LOG_LEVEL: 'silent', PINFOLD_CLUSTER_SECRET: SECRET, PINFOLD_AUTH_RATE_LIMIT_PER_MINUTE: String(LIMIT) },
    })
    coordinator = await startCoordinator(config)
  })
  after(async () => {
    await coordinator?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('peer-token /ipfs/ requests and control connections pass the per-address limit; others get 429', async () => {
    const nodes = []
    // more control connections from one address than the limit allows requests
    for (let i = 0; i < LIMIT + 2; i++) nodes.push(await joinForToken(coordinator.url, await mkdtemp(join(dir, 'node-'))))
    const token = nodes[0]?.token as string
    const peerStatuses: number[] = []
    for (let i = 0; i < LIMIT * 3; i++) {
      const response = await fetch(`${coordinator.url}/ipfs/${CID}?format=raw`, { headers: { authorization: `Bearer ${token}` } })
      await response.arrayBuffer()
      peerStatuses.push(response.status)
    }
    assert.ok(!peerStatuses.includes(429), `peer requests were throttled: ${peerStatuses.join(',')}`)

    // a forged or absent token is an ordinary client: per-address limit
    const statuses: number[] = []
    for (let i = 0; i < LIMIT + 2; i++) {
      const response = await fetch(`${coordinator.url}/ipfs/${CID}?format=raw`, { headers: { authorization: `Bearer ${token}x` } })
      await response.arrayBuffer()
      statuses.push(response.status)
    }
    assert.equal(statuses.at(-1), 429, statuses.join(','))
    for (const { ws } of nodes) ws.close()
  })
})
