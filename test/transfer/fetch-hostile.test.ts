import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FetchFailedError, type FetchProgressEvent, fetchDag } from '../../src/transfer/index.ts'
import {
  AuditedStore,
  catBytes,
  freshRepo,
  goodSource,
  type Lie,
  lyingHandler,
  origin,
  serve,
  unrelatedBlock,
} from './fetch-fixture.ts'
import { MemoryBlockstore } from '../../src/core/index.ts'

const EXPECTED_CODE: Record<Lie, string> = {
  corrupt: 'ERR_BLOCK_HASH_MISMATCH',
  extra: 'ERR_UNEXPECTED_BLOCK',
  short: 'ERR_INVALID_CAR',
  truncate: 'ERR_INVALID_CAR',
  huge: 'ERR_INVALID_CAR',
}

describe('fetchDag: lying sources', () => {
  for (const lie of Object.keys(EXPECTED_CODE) as Lie[]) {
    it(`${lie}: nothing wrong is stored, the source is dropped, a good source completes the DAG`, async () => {
      const { store, file } = await origin()
      const liar = await serve(lyingHandler(store, lie))
      const good = await goodSource(store)
      const local = new AuditedStore()
      const failures: FetchProgressEvent[] = []
      const result = await fetchDag(file.cid, local, {
        sources: [{ url: liar.url }, { url: good.url }],
        parallelism: 1,
        onProgress: (e) => {
          if (e.type === 'fetch:source-failed') failures.push(e)
        },
      })
      assert.equal(liar.carRequests(), 1)
      assert.deepEqual(
        failures.map((e) => (e.type === 'fetch:source-failed' ? [e.detail.source, e.detail.code] : [])),
        [[liar.url, EXPECTED_CODE[lie]]],
      )
      assert.deepEqual(local.wrongPuts, [], 'no block with wrong bytes was put')
      assert.ok(!local.puts.includes((await unrelatedBlock()).cid.toString()), 'the unrelated block was not put')
      assert.equal(result.blocks, file.blocks.length)
      assert.deepEqual(await catBytes(local, file.cid.toString()), file.content)
    })
  }

  it('all sources bad: ERR_FETCH_FAILED with a reason per source, and the DAG cannot be pinned', async () => {
    const { store, deep } = await origin()
    const corrupt = await serve(lyingHandler(store, 'corrupt'))
    const extra = await serve(lyingHandler(store, 'extra'))
    const empty = await goodSource(new MemoryBlockstore())
    const repo = await freshRepo()
    const err = await fetchDag(deep.cid, repo.blocks, {
      sources: [{ url: corrupt.url }, { url: extra.url }, { url: empty.url }, { url: 'http://127.0.0.1:9' }],
    }).catch((e: unknown) => e)
    assert.ok(err instanceof FetchFailedError, String(err))
    assert.equal(err.code, 'ERR_FETCH_FAILED')
    assert.equal(err.failures.length, 4)
    const bySource = new Map(err.failures.map((f) => [f.source, f.code]))
    assert.equal(bySource.get(corrupt.url), 'ERR_BLOCK_HASH_MISMATCH')
    assert.equal(bySource.get(extra.url), 'ERR_UNEXPECTED_BLOCK')
    assert.equal(bySource.get(empty.url), 'ERR_SOURCE_FAILED')
    assert.equal(bySource.get('http://127.0.0.1:9'), 'ERR_SOURCE_FAILED')
    for (const url of [corrupt.url, extra.url, empty.url]) assert.match(err.message, new RegExp(url))
    assert.ok(err.missing.length > 0)
    await assert.rejects(repo.pins.add(deep.cid), { code: 'ERR_DAG_INCOMPLETE' })
  })

  it('no sources: ERR_FETCH_FAILED', async () => {
    const { dir } = await origin()
    await assert.rejects(fetchDag(dir.cid, new AuditedStore(), { sources: [] }), { code: 'ERR_FETCH_FAILED' })
  })

  it('a source answering something other than a CAR is dropped', async () => {
    const { store, dir } = await origin()
    const html = await serve(async () => new Response('<html></html>', { headers: { 'Content-Type': 'text/html' } }))
    const good = await goodSource(store)
    const local = new AuditedStore()
    const result = await fetchDag(dir.cid, local, { sources: [{ url: html.url }, { url: good.url }], parallelism: 1 })
    assert.equal(result.blocks, dir.blocks.length)
  })

  it('a silent source times out and another one completes', async () => {
    const { store, dir } = await origin()
    const silent = await serve(
      (request) =>
        new Promise<Response>((resolve) => {
          request.signal.addEventListener('abort', () => resolve(new Response(null, { status: 499 })))
        }),
    )
    const good = await goodSource(store)
    const result = await fetchDag(dir.cid, new AuditedStore(), {
      sources: [{ url: silent.url }, { url: good.url }],
      parallelism: 1,
      idleTimeoutMs: 300,
    })
    assert.equal(result.blocks, dir.blocks.length)
  })
})
