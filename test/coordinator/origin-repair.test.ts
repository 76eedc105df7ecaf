import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { cat, importBytes, MemoryBlockstore } from '../../src/core/index.ts'
import { createCoordinatorMetrics } from '../../src/coordinator/metrics/coordinator-metrics.ts'
import { OriginRepairer } from '../../src/coordinator/repair/index.ts'
import { createGatewayHandler, serveHandler } from '../../src/transfer/index.ts'
import { freshRepo, pseudoRandom } from '../repo/helpers.ts'

describe('origin repair', () => {
  it('a damaged pin no node could give back yet is fetched back once a node holds it (never left dropped)', async () => {
    const bytes = pseudoRandom(700_000, 9)
    const node = new MemoryBlockstore()
    const { cid } = await importBytes(bytes, node)
    const served = await serveHandler(createGatewayHandler({ source: node }), { host: '127.0.0.1', port: 0 })
    const repo = await freshRepo()
    // like the first scrub after a start: no node has reconnected yet, then one has
    let nodesConnected = false
    const locate = async (cids: string[]) => ({ sources: cids.map((c) => ({ cid: c, urls: nodesConnected ? [served.url] : [] })), tokens: {} })
    const repairer = new OriginRepairer({
      repo,
      cluster: { locate },
      selfUrl: () => undefined,
      metrics: createCoordinatorMetrics(),
      logger: pino({ level: 'silent' }),
      scrubIntervalMs: 0,
      retryMs: 50,
    })
    try {
      repairer.start()
      await repairer.refetch(cid)
      assert.equal(await repo.pins.get(cid), undefined, 'nothing to fetch from yet')
      nodesConnected = true
      const deadline = Date.now() + 10_000
      while ((await repo.pins.get(cid)) === undefined) {
        assert.ok(Date.now() < deadline, 'the damaged pin was never retried')
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const chunks: Uint8Array[] = []
      for await (const chunk of cat(repo.blocks, cid.toString())) chunks.push(chunk)
      assert.ok(Buffer.concat(chunks).equals(Buffer.from(bytes)))
    } finally {
      await repairer.close()
      await served.close()
      await repo.close()
    }
  })
})
