import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { until } from '../helpers/node-process.ts'
import { createThrowawayPostgres, postgresBinDir, type ThrowawayPostgres } from '../helpers/throwaway-postgres.ts'
import { checkAcknowledged, startUploadTraffic } from '../helpers/upload-traffic.ts'

const PG_BIN = postgresBinDir()
const NO_POSTGRES = 'no PostgreSQL binaries (set PINFOLD_PG_BIN)'

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

/** A database outage may refuse a request with 503 ERR_REGISTRY_UNAVAILABLE, nothing else. */
const registryUnavailable = (status: number, body: string) => status === 503 && /ERR_REGISTRY_UNAVAILABLE/.test(body)

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
    const traffic = startUploadTraffic(running.url, token, { allowed: registryUnavailable })
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
    assert.equal(traffic.wrongReads, 0, 'no read answered 200 with wrong bytes')
    assert.deepEqual(await checkAcknowledged(running.url, token, traffic.acknowledged), { lost: [], wrong: [] }, 'every acknowledged upload readable and intact')
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
