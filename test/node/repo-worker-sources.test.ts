import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { pino } from 'pino'
import { importBytes, MemoryBlockstore } from '../../src/core/index.ts'
import { createRepoWorker } from '../../src/node/executor/repo-worker.ts'
import { initRepo, openRepo, type Repo } from '../../src/repo/index.ts'
import type { DagSource } from '../../src/transfer/fetch/index.ts'
import { useTempDir } from '../helpers/temp-dir.ts'

describe('repo worker: each source gets only the token bound to it', () => {
  const tmp = useTempDir('pinfold-worker-')
  let repo: Repo
  before(async () => {
    await initRepo(tmp())
    repo = await openRepo(tmp())
  })
  after(async () => {
    await repo?.close()
  })

  it('located peers get their own token (or none), the channel token goes to the coordinator only, never to itself', async () => {
    const { cid } = await importBytes(new TextEncoder().encode('somewhere else'), new MemoryBlockstore())
    let seen: DagSource[] = []
    const worker = createRepoWorker({
      repo,
      logger: pino({ level: 'silent' }),
      locate: async () => [
        { url: 'http://peer-x:4001', token: 'token-for-x' },
        { url: 'http://peer-y:4001/' }, // named without a token
        { url: 'http://self:4001' },
        { url: 'http://coordinator:8080', token: 'token-for-coordinator' },
      ],
      fallbackSources: () => ['http://coordinator:8080'],
      peerToken: () => 'channel-token',
      selfUrl: 'http://self:4001',
      fetchDag: async (_root, _store, options) => {
        seen = options.sources
        throw Object.assign(new Error('stop here'), { code: 'ERR_FETCH_FAILED' })
      },
    })
    await assert.rejects(worker.pin(cid.toString(), {}), /stop here/)
    await worker.close()
    assert.deepEqual(
      seen.map((s) => [s.url, s.headers?.authorization]),
      [
        ['http://peer-x:4001', 'Bearer token-for-x'],
        ['http://peer-y:4001', undefined],
        ['http://coordinator:8080', 'Bearer token-for-coordinator'],
      ],
    )
  })
})
