import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import type { StatusEntry } from '../../src/cluster/index.ts'
import { Executor, type ExecutorWorker } from '../../src/node/executor/executor.ts'
import { QueueStore } from '../../src/node/executor/queue-store.ts'
import { useTempDir } from '../helpers/temp-dir.ts'

const logger = pino({ level: 'silent' })

interface FakeWorker extends ExecutorWorker {
  pinned: Set<string>
  calls: string[]
  maxRunning: number
}

/** A fake fetch+pin: `fail(cid, attempt)` decides failures; `delayMs` keeps actions in flight. */
function fakeWorker(options: { fail?: (cid: string, attempt: number) => boolean; delayMs?: number } = {}): FakeWorker {
  const attempts = new Map<string, number>()
  let running = 0
  const worker: FakeWorker = {
    pinned: new Set(),
    calls: [],
    maxRunning: 0,
    async pin(cid, { signal }) {
      running++
      worker.maxRunning = Math.max(worker.maxRunning, running)
      try {
        worker.calls.push(`pin ${cid}`)
        const attempt = (attempts.get(cid) ?? 0) + 1
        attempts.set(cid, attempt)
        await sleep(options.delayMs ?? 1, undefined, signal ? { signal } : {})
        if (options.fail?.(cid, attempt)) throw Object.assign(new Error(`source down for ${cid}`), { code: 'ERR_FETCH_FAILED' })
        worker.pinned.add(cid)
      } finally {
        running--
      }
    },
    async unpin(cid) {
      worker.calls.push(`unpin ${cid}`)
      worker.pinned.delete(cid)
    },
  }
  return worker
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const cids = (n: number, prefix = 'bafy') => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`)

describe('node executor', () => {
  const tmp = useTempDir('pinfold-executor-')

  it('reports queued → pinning → pinned and unpinning → unpinned', async () => {
    const store = new QueueStore(join(tmp(), 'a.sqlite'))
    const worker = fakeWorker()
    const statuses: StatusEntry[] = []
    const executor = new Executor({ store, worker, logger, onStatus: (s) => statuses.push(s) })
    executor.start()
    try {
      executor.enqueue([{ cid: 'bafyone', action: 'pin' }])
      await until(() => worker.pinned.has('bafyone') && store.get('bafyone')?.state === 'done')
      executor.enqueue([{ cid: 'bafyone', action: 'pin' }]) // already pinned: no-op
      executor.enqueue([{ cid: 'bafyone', action: 'unpin' }])
      await executor.idle()
      await until(() => statuses.at(-1)?.status === 'unpinned')
      assert.deepEqual(
        statuses.map((s) => s.status),
        ['queued', 'pinning', 'pinned', 'unpinning', 'unpinning', 'unpinned'],
      )
      assert.deepEqual(worker.calls, ['pin bafyone', 'unpin bafyone'])
      assert.equal(executor.stats().unpinned, 1)
    } finally {
      await executor.stop()
      store.close()
    }
  })

  it('retries failures with exponential backoff and counts attempts', async () => {
    const store = new QueueStore(join(tmp(), 'b.sqlite'))
    const worker = fakeWorker({ fail: (_cid, attempt) => attempt < 3 })
    const statuses: StatusEntry[] = []
    const delays: number[] = []
    const executor = new Executor({
      store,
      worker,
      logger,
      onStatus: (s) => statuses.push(s),
      backoff: (attempts) => {
        delays.push(attempts)
        return 20 * 2 ** (attempts - 1)
      },
    })
    executor.start()
    try {
      const started = Date.now()
      executor.enqueue([{ cid: 'bafyflaky', action: 'pin' }])
      await until(() => store.get('bafyflaky')?.state === 'done')
      assert.ok(Date.now() - started >= 20 + 40, 'waited out both backoffs')
      assert.deepEqual(delays, [1, 2])
      const failed = statuses.filter((s) => s.status === 'failed')
      assert.equal(failed.length, 2)
      assert.deepEqual(
        failed.map((s) => s.attempts),
        [1, 2],
      )
      assert.match(failed[0]?.reason ?? '', /ERR_FETCH_FAILED: source down/)
      assert.equal(statuses.at(-1)?.status, 'pinned')
      assert.equal(store.get('bafyflaky')?.attempts, 2)
    } finally {
      await executor.stop()
      store.close()
    }
  })

  it('keeps its queue in SQLite: a restart resumes queued and interrupted work', async () => {
    const file = join(tmp(), 'c.sqlite')
    let store = new QueueStore(file)
    const slow = fakeWorker({ delayMs: 10_000 })
    let executor = new Executor({ store, worker: slow, logger, concurrency: 2 })
    executor.start()
    executor.enqueue(cids(5).map((cid) => ({ cid, action: 'pin' as const })))
    await until(() => slow.calls.length === 2)
    assert.equal(store.get('bafy00000')?.state, 'active')
    await executor.stop() // as a crash: the two running pins never finished
    store.close()

    store = new QueueStore(file)
    assert.equal(store.get('bafy00000')?.state, 'queued', 'interrupted work is queued again on open')
    assert.equal(store.counts().queued, 5)
    const worker = fakeWorker()
    executor = new Executor({ store, worker, logger })
    executor.start()
    try {
      await until(() => worker.pinned.size === 5)
      await executor.idle()
      assert.equal(store.counts().pinned, 5)
    } finally {
      await executor.stop()
      store.close()
    }
  })

  it('loads work in bounded chunks and runs at most `concurrency` at once', async () => {
    const store = new QueueStore(join(tmp(), 'd.sqlite'))
    const worker = fakeWorker({ delayMs: 3 })
    const chunks: number[] = []
    const executor = new Executor({ store, worker, logger, chunkSize: 7, concurrency: 3, onChunk: (n) => chunks.push(n) })
    executor.enqueue(cids(50).map((cid) => ({ cid, action: 'pin' as const })))
    executor.start()
    try {
      await until(() => worker.pinned.size === 50)
      await executor.idle()
      assert.ok(chunks.length >= 8, `loaded in chunks: ${chunks.join(',')}`)
      assert.ok(
        chunks.every((n) => n <= 7),
        `no chunk above 7: ${chunks.join(',')}`,
      )
      assert.equal(worker.maxRunning, 3)
      assert.equal(new Set(worker.calls).size, 50, 'each CID pinned once')
    } finally {
      await executor.stop()
      store.close()
    }
  })

  it('a desire changed while an action runs wins (never unpinned then re-pinned out of order)', async () => {
    const store = new QueueStore(join(tmp(), 'e.sqlite'))
    const worker = fakeWorker({ delayMs: 50 })
    const executor = new Executor({ store, worker, logger })
    executor.start()
    try {
      executor.enqueue([{ cid: 'bafyrace', action: 'pin' }])
      await until(() => worker.calls.length === 1)
      executor.enqueue([{ cid: 'bafyrace', action: 'unpin' }])
      await until(() => store.get('bafyrace')?.state === 'done')
      await executor.idle()
      assert.deepEqual(worker.calls, ['pin bafyrace', 'unpin bafyrace'])
      assert.equal(store.get('bafyrace')?.action, 'unpin')
      assert.ok(!worker.pinned.has('bafyrace'))
    } finally {
      await executor.stop()
      store.close()
    }
  })

  it('stores the cursor in the same transaction as the changes', () => {
    const store = new QueueStore(join(tmp(), 'f.sqlite'))
    try {
      store.enqueue([{ cid: 'bafyx', action: 'pin' }], { cursor: '42' })
      assert.equal(store.getMeta('cursor'), '42')
      assert.equal(store.get('bafyx')?.state, 'queued')
      assert.throws(() => store.enqueue([{ cid: 'bafyy', action: 'bogus' as 'pin' }, { cid: null as unknown as string, action: 'pin' }], { cursor: '43' }))
      assert.equal(store.getMeta('cursor'), '42', 'rolled back together')
      assert.equal(store.get('bafyy'), undefined)
    } finally {
      store.close()
    }
  })
})
