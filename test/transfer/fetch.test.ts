import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import { verifyBlock } from '../../src/core/index.ts'
import { type FetchProgressEvent, fetchDag } from '../../src/transfer/index.ts'
import {
  AuditedStore,
  catBytes,
  cutAfter,
  freshRepo,
  goodSource,
  origin,
  presentBytes,
  serve,
} from './fetch-fixture.ts'
import { createGatewayHandler } from '../../src/transfer/index.ts'

describe('fetchDag: whole DAGs into a fresh repo', () => {
  it('fetches a multi-MiB file: every block present, pinnable, cat equals the original', async () => {
    const { store, file } = await origin()
    const source = await goodSource(store)
    const repo = await freshRepo()
    const events: FetchProgressEvent[] = []
    const result = await fetchDag(file.cid, repo.blocks, {
      sources: [{ url: source.url }],
      onProgress: (e) => events.push(e),
    })
    assert.deepEqual(result, {
      blocks: file.blocks.length,
      bytes: file.bytes,
      fetchedBlocks: file.blocks.length,
      fetchedBytes: file.bytes,
      skippedBlocks: 0,
    })
    for (const block of file.blocks) assert.ok(await repo.blocks.has(block.cid), `${block.cid} present`)
    await repo.pins.add(file.cid)
    assert.deepEqual(await catBytes(repo.blocks, file.cid.toString()), file.content)
    // One source: the whole DAG in one CAR request.
    assert.deepEqual(source.requests, [`/ipfs/${file.cid}?format=car&dag-scope=all`])
    const blockEvents = events.filter((e) => e.type === 'fetch:block')
    assert.equal(blockEvents.length, file.blocks.length)
    const last = blockEvents.at(-1)
    assert.equal(last?.type === 'fetch:block' ? last.detail.fetchedBytes : -1, file.bytes)
    assert.equal(events[0]?.type, 'fetch:scan')
  })

  it('fetches a directory with nested entries; ls/cat work from the repo', async () => {
    const { store, dir } = await origin()
    const source = await goodSource(store)
    const repo = await freshRepo()
    const result = await fetchDag(dir.cid, repo.blocks, { sources: [{ url: source.url }] })
    assert.equal(result.blocks, dir.blocks.length)
    assert.equal(result.fetchedBlocks, dir.blocks.length)
    await repo.pins.add(dir.cid)
    for (const [path, content] of dir.files) {
      const inner = path.replace(/^dir\//, '')
      assert.deepEqual(await catBytes(repo.blocks, `${dir.cid}/${inner}`), content, path)
    }
  })

  it('fetches nothing when the DAG is already whole', async () => {
    const { store, file } = await origin()
    const source = await goodSource(store)
    const local = new AuditedStore()
    for (const block of file.blocks) await local.put(block.cid, block.bytes)
    const result = await fetchDag(file.cid, local, { sources: [{ url: source.url }] })
    assert.equal(result.fetchedBlocks, 0)
    assert.equal(result.skippedBlocks, file.blocks.length)
    assert.equal(result.bytes, file.bytes)
    assert.deepEqual(source.requests, [])
  })
})

it('an identity root needs no source', async () => {
  const result = await fetchDag(CID.parse('bafkqaaa'), new AuditedStore(), { sources: [] })
  assert.deepEqual(result, { blocks: 0, bytes: 0, fetchedBlocks: 0, fetchedBytes: 0, skippedBlocks: 0 })
})

describe('fetchDag: resume', () => {
  it('after a transfer cut mid-DAG, refetches only the missing blocks', async () => {
    const { store, deep } = await origin()
    const cutter = await serve(cutAfter(createGatewayHandler({ source: store }), 2 * 1024 * 1024 + 12345))
    const good = await goodSource(store)
    const repo = await freshRepo()

    const first = await fetchDag(deep.cid, repo.blocks, { sources: [{ url: cutter.url }] }).catch((e: unknown) => e)
    assert.equal((first as { code?: string }).code, 'ERR_FETCH_FAILED')
    await assert.rejects(repo.pins.add(deep.cid), { code: 'ERR_DAG_INCOMPLETE' })
    const before = await presentBytes(repo.blocks, deep)
    assert.ok(before.bytes > 1.5 * 1024 * 1024 && before.bytes < 2.5 * 1024 * 1024, `kept ${before.bytes} bytes`)
    for (const block of deep.blocks) {
      if (await repo.blocks.has(block.cid)) await verifyBlock(block.cid, await repo.blocks.get(block.cid))
    }

    const second = await fetchDag(deep.cid, repo.blocks, { sources: [{ url: good.url }] })
    assert.equal(second.skippedBlocks, before.blocks)
    assert.ok(second.skippedBlocks > 0)
    assert.equal(second.fetchedBytes, deep.bytes - before.bytes, 'fetched exactly what was missing')
    assert.equal(second.fetchedBlocks, deep.blocks.length - before.blocks)
    assert.equal(second.blocks, deep.blocks.length)
    await repo.pins.add(deep.cid)
    assert.deepEqual(await catBytes(repo.blocks, deep.cid.toString()), deep.content)
    // Only missing subtrees were asked for, never the root again.
    assert.ok(!good.requests.some((r) => r.startsWith(`/ipfs/${deep.cid}?`)))
  })

  it('continues from another source when one cuts mid-subtree, keeping what was verified', async () => {
    const { store, file } = await origin()
    const cutter = await serve(cutAfter(createGatewayHandler({ source: store }), 1024 * 1024))
    const good = await goodSource(store)
    const local = new AuditedStore()
    const failed: string[] = []
    const result = await fetchDag(file.cid, local, {
      sources: [{ url: cutter.url }, { url: good.url }],
      parallelism: 1,
      onProgress: (e) => {
        if (e.type === 'fetch:source-failed') failed.push(e.detail.source)
      },
    })
    assert.deepEqual(failed, [cutter.url])
    assert.equal(result.blocks, file.blocks.length)
    // The cut source delivered the root and some leaves; the good one only the rest.
    assert.ok(result.fetchedBytes < file.bytes + 256 * 1024, `refetched at most one block (${result.fetchedBytes})`)
    assert.ok(!good.requests.some((r) => r.startsWith(`/ipfs/${file.cid}?`)))
    assert.deepEqual(local.wrongPuts, [])
    assert.deepEqual(await catBytes(local, file.cid.toString()), file.content)
  })
})

describe('fetchDag: parallel sources', () => {
  it('splits a large DAG across two sources, each block fetched once', async () => {
    const { store, deep } = await origin()
    const a = await goodSource(store)
    const b = await goodSource(store)
    const local = new AuditedStore()
    const result = await fetchDag(deep.cid, local, { sources: [{ url: a.url }, { url: b.url }], parallelism: 4 })
    assert.equal(result.blocks, deep.blocks.length)
    assert.equal(result.fetchedBlocks, deep.blocks.length, 'no block fetched twice')
    assert.ok(a.carRequests() > 0 && b.carRequests() > 0, `requests a=${a.requests.length} b=${b.requests.length}`)
    assert.deepEqual(await catBytes(local, deep.cid.toString()), deep.content)
  })

  it('passes each source its headers', async () => {
    const { store, dir } = await origin()
    const seen: (string | null)[] = []
    const gateway = createGatewayHandler({ source: store })
    const source = await serve(async (request) => {
      seen.push(request.headers.get('authorization'))
      return request.headers.get('authorization') === 'Bearer t0k3n'
        ? gateway(request)
        : new Response('no', { status: 401 })
    })
    await fetchDag(dir.cid, new AuditedStore(), {
      sources: [{ url: `${source.url}/`, headers: { Authorization: 'Bearer t0k3n' } }],
    })
    assert.ok(seen.length > 0 && seen.every((h) => h === 'Bearer t0k3n'))
  })
})

describe('fetchDag: abort', () => {
  it('stops promptly on abort, stores only whole verified blocks, and a later call completes', async () => {
    const { store, file } = await origin()
    const source = await goodSource(store)
    const local = new AuditedStore()
    const controller = new AbortController()
    let blocks = 0
    const started = performance.now()
    await assert.rejects(
      fetchDag(file.cid, local, {
        sources: [{ url: source.url }],
        bandwidthBytesPerSecond: 4 * 1024 * 1024,
        signal: controller.signal,
        onProgress: (e) => {
          if (e.type === 'fetch:block' && ++blocks === 3) controller.abort()
        },
      }),
      { code: 'ERR_ABORTED' },
    )
    assert.ok(performance.now() - started < 1500, 'aborted before the throttled transfer finished')
    assert.equal(local.puts.length, 3)
    assert.deepEqual(local.wrongPuts, [])
    const result = await fetchDag(file.cid, local, { sources: [{ url: source.url }] })
    assert.equal(result.skippedBlocks, 3)
    assert.deepEqual(await catBytes(local, file.cid.toString()), file.content)
  })

  it('rejects at once when the signal is already aborted', async () => {
    const { file } = await origin()
    await assert.rejects(
      fetchDag(file.cid, new AuditedStore(), { sources: [{ url: 'http://127.0.0.1:9' }], signal: AbortSignal.abort() }),
      { code: 'ERR_ABORTED' },
    )
  })
})
