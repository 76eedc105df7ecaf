import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorEvent, createEventHub } from '../../src/coordinator/events/event-hub.ts'
import { createTestAccount, startTestCoordinator, type TestAccount, type TestCoordinator } from './seed-content.ts'

/** A minimal SSE client over fetch (as the portal reads it): parsed events, and a way to stop. */
function openEvents(url: string, token: string) {
  const controller = new AbortController()
  const received: { event: string; data: CoordinatorEvent }[] = []
  const waiters: (() => void)[] = []
  const opened = fetch(`${url}/api/v1/events`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal })
  const reading = (async () => {
    const response = await opened
    assert.equal(response.status, 200)
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/)
    assert.ok(response.body)
    const decoder = new TextDecoder()
    let buffer = ''
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk, { stream: true })
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        let event = 'message'
        let data = ''
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7)
          else if (line.startsWith('data: ')) data += line.slice(6)
        }
        if (data !== '') received.push({ event, data: JSON.parse(data) as CoordinatorEvent })
        for (const wake of waiters.splice(0)) wake()
      }
    }
  })().catch((error: unknown) => {
    if ((error as { name?: string }).name !== 'AbortError') throw error
  })
  return {
    received,
    /** Resolves once an event satisfying `test` has arrived. */
    async until(test: (e: CoordinatorEvent) => boolean, timeoutMs = 10_000): Promise<void> {
      const deadline = Date.now() + timeoutMs
      while (!received.some((r) => test(r.data))) {
        if (Date.now() > deadline) throw new Error(`no matching event; got ${JSON.stringify(received)}`)
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          setTimeout(resolve, 200)
        })
      }
    },
    async close() {
      controller.abort()
      await reading
    },
  }
}

async function upload(coordinator: TestCoordinator, account: TestAccount, name: string, text: string): Promise<string> {
  const form = new FormData()
  form.append('path', '/Library/events')
  form.append('file', new Blob([text]), name)
  const response = await fetch(`${coordinator.url}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${account.token}` }, body: form })
  const body = (await response.json()) as { upload: { id: string; status: string } }
  assert.equal(response.status, 201, JSON.stringify(body))
  return body.upload.id
}

describe('GET /api/v1/events (Server-Sent Events)', () => {
  let coordinator: TestCoordinator
  let alice: TestAccount
  let bob: TestAccount
  before(async () => {
    coordinator = await startTestCoordinator()
    alice = await createTestAccount(coordinator, 'alice@example.com')
    bob = await createTestAccount(coordinator, 'bob@example.com')
  })
  after(async () => {
    await coordinator?.close()
  })

  it('streams the caller’s upload statuses through done, and nothing of another account', async () => {
    const aliceEvents = openEvents(coordinator.url, alice.token)
    const bobEvents = openEvents(coordinator.url, bob.token)
    const hub = coordinator.running.components.events
    const deadline = Date.now() + 5000
    while (hub.size < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal(hub.size, 2, 'both streams subscribed')

    const aliceUpload = await upload(coordinator, alice, 'a.txt', 'alice was here')
    await aliceEvents.until((e) => e.type === 'upload' && e.id === aliceUpload && e.status === 'done')
    const statuses = aliceEvents.received.filter((r) => r.data.type === 'upload' && r.data.id === aliceUpload).map((r) => r.data)
    assert.deepEqual(
      statuses.map((e) => e.type === 'upload' && e.status),
      ['receiving', 'importing', 'saving', 'done'],
    )
    assert.ok(aliceEvents.received.every((r) => r.event === r.data.type), 'the event line names the type')
    const done = statuses.at(-1)
    assert.ok(done?.type === 'upload' && typeof done.cid === 'string' && done.cid.length > 0)

    const bobUpload = await upload(coordinator, bob, 'b.txt', 'bob was here')
    await bobEvents.until((e) => e.type === 'upload' && e.id === bobUpload && e.status === 'done')
    assert.ok(!bobEvents.received.some((r) => r.data.type === 'upload' && r.data.id === aliceUpload), 'bob sees none of alice’s uploads')
    assert.ok(!aliceEvents.received.some((r) => r.data.type === 'upload' && r.data.id === bobUpload), 'alice sees none of bob’s uploads')

    await aliceEvents.close()
    await bobEvents.close()
    const closing = Date.now() + 5000
    while (hub.size > 0 && Date.now() < closing) await new Promise((resolve) => setTimeout(resolve, 20))
    assert.equal(hub.size, 0, 'a client disconnect ends its subscription')
  })

  it('refuses a request without a bearer token', async () => {
    const response = await fetch(`${coordinator.url}/api/v1/events`)
    assert.equal(response.status, 401)
    await response.body?.cancel()
  })
})

describe('event hub', () => {
  it('delivers by account and to admins, in order', async () => {
    const hub = createEventHub()
    const a = hub.subscribe({ accountId: 'a', admin: false })
    const b = hub.subscribe({ accountId: 'b', admin: false })
    const admin = hub.subscribe({ accountId: 'root', admin: true })
    hub.publish({ type: 'pin-status', cid: 'c1', nodeId: 'n', status: 'pinned' }, { accountIds: ['a'], admins: true })
    hub.publish({ type: 'upload', id: 'u', status: 'done', stage: null, reason: null, cid: 'c2' }, { accountIds: ['b'] })
    assert.deepEqual(await a.next(), { type: 'pin-status', cid: 'c1', nodeId: 'n', status: 'pinned' })
    assert.equal((await b.next())?.type, 'upload')
    assert.equal((await admin.next())?.type, 'pin-status')
    await hub.close()
    assert.equal(await a.next(), undefined)
    assert.equal(hub.size, 0)
  })

  it('drops a subscriber whose queue fills instead of buffering forever', async () => {
    const hub = createEventHub({ maxQueue: 3 })
    const slow = hub.subscribe({ accountId: 'a', admin: false })
    for (let i = 0; i < 4; i++) hub.publish({ type: 'pin-status', cid: `c${i}`, nodeId: 'n', status: 'pinned' }, { accountIds: ['a'] })
    assert.equal(slow.dropped, true)
    assert.equal(await slow.next(), undefined)
    assert.equal(hub.size, 0)
  })
})
