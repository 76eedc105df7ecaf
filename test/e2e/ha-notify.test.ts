import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { clusterApi, killAll, type NodeProcess, pinnedOn, startNodeProcess, until } from '../helpers/node-process.ts'
import { createTestDatabase, POSTGRES_MISSING } from '../helpers/postgres-database.ts'

/** The poll interval (reconcile tick, feed poll) is long: only a notification explains anything faster. */
const POLL_SECONDS = 30
const ENV = {
  PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: String(POLL_SECONDS),
  PINFOLD_AUTH_FAILED_LOGIN_DELAY_MS: '0',
}

/** Reads SSE frames from `/api/v1/events` until `match` accepts one (or the deadline). */
async function waitForEvent(
  url: string,
  token: string,
  opened: () => Promise<void>,
  match: (event: Record<string, unknown>) => boolean,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  try {
    const response = await fetch(`${url}/api/v1/events`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal })
    assert.equal(response.status, 200)
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    await reader.read() // ": connected": the subscription exists from here on
    await opened()
    let text = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) throw new Error('the event stream ended')
      text += Buffer.from(value).toString()
      for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
        const data = /^data: (.*)$/m.exec(text.slice(0, end))?.[1]
        text = text.slice(end + 2)
        const event = data === undefined ? undefined : (JSON.parse(data) as Record<string, unknown>)
        if (event && match(event)) return event
      }
    }
  } finally {
    clearTimeout(timer)
    controller.abort()
  }
}

describe('replicas notify each other (two pinfold serve on one PostgreSQL)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>
  let a: CoordinatorProcess | undefined
  let b: CoordinatorProcess | undefined
  let node: NodeProcess | undefined

  before(async () => {
    database = await createTestDatabase()
    if (!database) {
      if (process.env.CI) throw new Error(`${POSTGRES_MISSING} (required when CI is set)`)
      return
    }
    a = await startCoordinatorProcess({ db: database.url, env: ENV })
    const secret = /--secret (\S+)/.exec(a.output())?.[1] ?? ''
    b = await startCoordinatorProcess({ db: database.url, env: ENV, admin: a.admin })
    // attached to B only: what A receives reaches it through the registry alone
    node = await startNodeProcess({ join: b.url, secret, args: ['--report-interval', '300ms'] })
    const apiB = clusterApi(b.url, await b.token())
    await until(async () => ((await apiB.node(node?.id ?? ''))?.connected ? true : undefined), 15_000, () => `the node to join B:\n${node?.output()}`)
  })
  after(async () => {
    await killAll([node])
    for (const c of [a, b]) {
      await c?.kill()
      await c?.cleanup()
    }
    await database?.drop()
  })

  it('an upload through A is placed, fetched from A and pinned on a node attached only to B, well within the poll interval', async (context) => {
    if (!a || !b || !node) return context.skip(POSTGRES_MISSING)
    const token = await a.token()
    const apiA = clusterApi(a.url, token)
    const bytes = randomBytes(200_000)
    const started = Date.now()
    const [entry] = await apiA.upload([{ path: 'through-a.bin', bytes }], { path: '/Library/notify' })
    const cid = entry?.cid ?? ''
    await until(
      async () => (pinnedOn(await apiA.pinStatus(cid)).includes(node?.id ?? '') ? true : undefined),
      (POLL_SECONDS / 2) * 1000,
      () => `the upload pinned on the node well before the ${POLL_SECONDS} s poll:\n${node?.output()}\n${b?.output()}`,
    )
    context.diagnostic(`upload answered + pinned on B's node in ${Date.now() - started} ms (poll interval ${POLL_SECONDS} s)`)
    const allocations = (await apiA.pinStatus(cid))?.allocations ?? []
    assert.deepEqual(
      allocations.map((x) => [x.nodeId, x.status]),
      [[node.id, 'pinned']],
      'the only node holds it; it could only have fetched it from A, the replica that staged it',
    )
  })

  it('an SSE client on B sees an upload made through A', async (context) => {
    if (!a || !b) return context.skip(POSTGRES_MISSING)
    const apiA = clusterApi(a.url, await a.token())
    let uploaded: string | undefined
    const event = await waitForEvent(
      b.url,
      await b.token(),
      async () => {
        const [entry] = await apiA.upload([{ path: 'watched.bin', bytes: randomBytes(10_000) }], { path: '/Library/notify' })
        uploaded = entry?.cid
      },
      (e) => e.type === 'upload' && e.status === 'done' && (uploaded === undefined || e.cid === uploaded),
      10_000,
    )
    assert.equal(event.cid, uploaded)
  })
})
