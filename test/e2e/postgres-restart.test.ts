import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { until } from '../helpers/node-process.ts'
import { createThrowawayPostgres, postgresBinDir, type ThrowawayPostgres } from '../helpers/throwaway-postgres.ts'

const PG_BIN = postgresBinDir()
const NO_POSTGRES = 'no PostgreSQL binaries (set PINFOLD_PG_BIN)'

interface Acknowledged {
  id: string
  bytes: Buffer
}

async function upload(url: string, token: string, bytes: Buffer, name: string): Promise<{ status: number; body: string }> {
  const form = new FormData()
  form.append('path', '/Library/restart')
  form.append('file', new Blob([bytes]), name)
  const response = await fetch(`${url}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
  return { status: response.status, body: await response.text() }
}

async function readyStatus(url: string): Promise<number | undefined> {
  return fetch(`${url}/readyz`).then(
    (r) => r.status,
    () => undefined,
  )
}

/**
 * Uploads and reads back acknowledged files in a loop until stopped, recording every
 * answer: a database outage may refuse a request (503) but never crash or lie.
 */
function startTraffic(coordinator: CoordinatorProcess, token: string) {
  const acknowledged: Acknowledged[] = []
  const statuses = new Map<number, number>()
  const unexpected: string[] = []
  let stopped = false
  const count = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1)
  const worker = async (n: number) => {
    for (let i = 0; !stopped; i++) {
      const bytes = randomBytes(20_000 + i)
      try {
        const answer = await upload(coordinator.url, token, bytes, `w${n}-${i}.bin`)
        count(answer.status)
        if (answer.status === 201) {
          const entry = (JSON.parse(answer.body) as { upload: { entries: { id: string }[] } }).upload.entries[0]
          if (entry) acknowledged.push({ id: entry.id, bytes })
        } else if (answer.status !== 503) unexpected.push(`upload ${answer.status}: ${answer.body.slice(0, 300)}`)
        else assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, 'ERR_REGISTRY_UNAVAILABLE', answer.body)
        const earlier = acknowledged[Math.floor(Math.random() * acknowledged.length)]
        if (earlier) {
          const read = await fetch(`${coordinator.url}/api/v1/entries/${earlier.id}/content`, { headers: { authorization: `Bearer ${token}` } })
          const body = Buffer.from(await read.arrayBuffer())
          count(read.status)
          if (read.status === 200) assert.ok(body.equals(earlier.bytes), 'a read returned wrong bytes')
          else if (read.status !== 503) unexpected.push(`read ${read.status}: ${body.toString().slice(0, 300)}`)
        }
      } catch (error) {
        unexpected.push(`request failed: ${(error as Error).message}`)
        if (coordinator.process.exitCode !== null || coordinator.process.signalCode !== null) return
      }
    }
  }
  const workers = [worker(0), worker(1)]
  return {
    acknowledged,
    statuses,
    unexpected,
    async stop() {
      stopped = true
      await Promise.all(workers)
    },
  }
}

describe('coordinator on PostgreSQL: database restarts', { skip: PG_BIN ? false : NO_POSTGRES }, () => {
  let pg: ThrowawayPostgres
  let coordinator: CoordinatorProcess | undefined
  before(async () => {
    pg = await createThrowawayPostgres(PG_BIN as string)
  })
  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
    await pg?.destroy()
  })

  it('rides through three database restarts under traffic: 503 meanwhile, no crash, every acknowledged upload readable', async () => {
    await pg.start()
    coordinator = await startCoordinatorProcess({ db: pg.url })
    const running = coordinator
    const token = await running.token()
    const traffic = startTraffic(running, token)
    const alive = () => running.process.exitCode === null && running.process.signalCode === null
    const what = (state: string) => () => `${state}\n${running.output()}`
    try {
      for (let restart = 0; restart < 3; restart++) {
        const before = traffic.acknowledged.length
        await until(() => (traffic.acknowledged.length > before ? true : undefined), 20_000, what('an upload before the restart'))
        await pg.stop()
        await until(async () => ((await readyStatus(running.url)) === 503 ? true : undefined), 10_000, what('/readyz 503 during the outage'))
        const refused = await fetch(`${running.url}/api/v1/entries?path=/Library`, { headers: { authorization: `Bearer ${token}` } })
        assert.equal(refused.status, 503)
        assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'ERR_REGISTRY_UNAVAILABLE')
        assert.ok(alive(), what('still running during the outage')())
        await pg.start()
        await until(async () => ((await readyStatus(running.url)) === 200 ? true : undefined), 20_000, what('/readyz 200 after the restart'))
      }
      const last = traffic.acknowledged.length
      await until(() => (traffic.acknowledged.length > last ? true : undefined), 20_000, what('an upload after the last restart'))
    } finally {
      await traffic.stop()
    }
    assert.ok(alive(), what('the coordinator still runs')())
    assert.deepEqual(traffic.unexpected, [], `only 2xx and 503 answers (${JSON.stringify([...traffic.statuses])})`)
    assert.ok(traffic.acknowledged.length >= 4)
    for (const file of traffic.acknowledged) {
      const read = await fetch(`${running.url}/api/v1/entries/${file.id}/content`, { headers: { authorization: `Bearer ${token}` } })
      assert.equal(read.status, 200, `acknowledged upload ${file.id} readable`)
      assert.ok(Buffer.from(await read.arrayBuffer()).equals(file.bytes), `acknowledged upload ${file.id} intact`)
    }
    // the process-level log shows why requests were refused, and nothing fatal
    assert.doesNotMatch(running.output(), /uncaught|unhandled/i)
  })
})

describe('coordinator on PostgreSQL: starting before the database', { skip: PG_BIN ? false : NO_POSTGRES }, () => {
  let pg: ThrowawayPostgres
  let coordinator: CoordinatorProcess | undefined
  before(async () => {
    pg = await createThrowawayPostgres(PG_BIN as string)
  })
  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
    await pg?.destroy()
  })

  it('waits for the database with backoff and serves once it is up', async () => {
    let waiting: () => void = () => undefined
    const sawRetry = new Promise<void>((resolve) => {
      waiting = resolve
    })
    const starting = startCoordinatorProcess({
      db: pg.url,
      startTimeoutMs: 60_000,
      onOutput: (text) => {
        if (/registry not reachable yet/.test(text)) waiting()
      },
    })
    starting.catch(() => undefined)
    await Promise.race([sawRetry, starting])
    await pg.start()
    coordinator = await starting
    assert.equal(await readyStatus(coordinator.url), 200)
    const answer = await upload(coordinator.url, await coordinator.token(), Buffer.from('after a late database'), 'late.txt')
    assert.equal(answer.status, 201, answer.body)
  })

  it('gives up with a clear error once dbStartTimeoutSeconds has passed', async () => {
    await pg.stop()
    const started = Date.now()
    await assert.rejects(
      startCoordinatorProcess({ db: pg.url, env: { PINFOLD_DB_START_TIMEOUT_SECONDS: '2' } }),
      /exited with 1:[\s\S]*registry .*not reachable/i,
    )
    assert.ok(Date.now() - started < 45_000, "gave up within the bound (a start takes seconds on a loaded machine; the default is 60 s)")
  })
})
