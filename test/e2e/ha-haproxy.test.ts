import assert from 'node:assert/strict'
import { randomBytes, randomInt } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Haproxy, startHaproxy } from '../../scripts/haproxy.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { freePort } from '../helpers/free-port.ts'
import { clusterApi, killAll, type NodeProcess, pinnedOn, repoPins, startNodeProcess, until } from '../helpers/node-process.ts'
import { createTestDatabase, POSTGRES_MISSING } from '../helpers/postgres-database.ts'

const KILLS = 10
const ENV = {
  PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: '1',
  PINFOLD_CLUSTER_DEFAULT_REPLICATION_MIN: '2',
  PINFOLD_CLUSTER_DEFAULT_REPLICATION_MAX: '2',
  PINFOLD_AUTH_FAILED_LOGIN_DELAY_MS: '0',
}

interface Answered {
  id: string
  cid: string
  bytes: Buffer
}

async function readyz(url: string): Promise<{ leader: boolean } | undefined> {
  const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined)
  return response?.ok ? ((await response.json()) as { leader: boolean }) : undefined
}

/** Reads an entry through the proxy; undefined when it did not answer 200. */
async function download(proxy: string, token: string, id: string): Promise<Buffer | undefined> {
  const response = await fetch(`${proxy}/api/v1/entries/${id}/content`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) }).catch(
    () => undefined,
  )
  if (response?.status !== 200) return undefined
  return Buffer.from(await response.arrayBuffer())
}

describe('two coordinators behind haproxy, the leader SIGKILLed again and again (real processes)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>
  const replicas: { port: number; process: CoordinatorProcess }[] = []
  let nodes: NodeProcess[] = []
  let proxy: Haproxy | undefined
  let dir = ''

  before(async () => {
    database = await createTestDatabase()
    if (!database) {
      if (process.env.CI) throw new Error(`${POSTGRES_MISSING} (required when CI is set)`)
      return
    }
    dir = await mkdtemp(join(tmpdir(), 'pinfold-haproxy-'))
    for (const _ of [1, 2]) {
      const port = await freePort()
      // fixed ports: haproxy names its backends up front, and a restarted replica comes back on its own
      const process = await startCoordinatorProcess({ db: database.url, env: ENV, args: ['--listen', `127.0.0.1:${port}`], admin: replicas[0]?.process.admin })
      replicas.push({ port, process })
    }
    const secret = /--secret (\S+)/.exec(replicas[0]?.process.output() ?? '')?.[1] ?? ''
    proxy = await startHaproxy({ port: await freePort(), statsPort: await freePort(), backends: replicas.map((r) => `127.0.0.1:${r.port}`), dir })
    const joinUrls = replicas.map((r) => r.process.url).join(',')
    nodes = await Promise.all([1, 2, 3].map(() => startNodeProcess({ join: joinUrls, secret, args: ['--report-interval', '300ms', '--reconnect-max', '1s'] })))
  })
  after(async () => {
    await killAll(nodes)
    await proxy?.stop()
    for (const r of replicas) {
      await r.process.kill()
      await r.process.cleanup()
    }
    await database?.drop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('every answered upload reads back byte-identical, nodes reconnect, the new leader places new pins, a delete releases everywhere', async (context) => {
    if (!database || !proxy) return context.skip(POSTGRES_MISSING)
    const via = proxy.url
    const token = await replicas[0]?.process.token()
    assert.ok(token)
    const api = clusterApi(via, token)
    const answered: Answered[] = []
    let failedUploads = 0
    let reads = 0
    let stop = false

    // uploads and downloads through the proxy, the whole time
    const uploader = (async () => {
      while (!stop) {
        const bytes = randomBytes(randomInt(1_000, 200_000))
        try {
          const [entry] = await api.upload([{ path: `f${answered.length}-${randomInt(1e9)}.bin`, bytes }], { path: '/Library/haproxy' })
          if (entry) answered.push({ id: entry.id, cid: entry.cid, bytes })
        } catch {
          failedUploads++
        }
      }
    })()
    const reader = (async () => {
      while (!stop) {
        const some = answered[randomInt(Math.max(answered.length, 1))]
        if (some && (await download(via, token, some.id))) reads++
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })()

    const leaderMs: number[] = []
    const reconnectMs: number[] = []
    try {
      for (let kill = 0; kill < KILLS; kill++) {
        const leader = await until(
          async () => {
            const states = await Promise.all(replicas.map((r) => readyz(r.process.url)))
            const index = states.findIndex((s) => s?.leader === true)
            return index >= 0 && states.every((s) => s !== undefined) ? index : undefined
          },
          20_000,
          () => 'both replicas ready, one of them leading',
        )
        await new Promise((resolve) => setTimeout(resolve, randomInt(200, 1500))) // a random moment of the workload
        const killed = replicas[leader] as { port: number; process: CoordinatorProcess }
        const survivor = replicas[1 - leader] as { port: number; process: CoordinatorProcess }
        const killedAt = Date.now()
        await killed.process.kill()
        await until(async () => ((await readyz(survivor.process.url))?.leader ? true : undefined), 15_000, () => 'the survivor to lead')
        leaderMs.push(Date.now() - killedAt)
        const survivorApi = clusterApi(survivor.process.url, token)
        await until(
          async () => ((await survivorApi.nodes()).filter((n) => n.connected).length === nodes.length ? true : undefined),
          15_000,
          () => 'every node connected to the survivor',
        )
        reconnectMs.push(Date.now() - killedAt)
        killed.process = await startCoordinatorProcess({
          db: database.url,
          dataDir: killed.process.dataDir,
          env: ENV,
          args: ['--listen', `127.0.0.1:${killed.port}`],
          admin: survivor.process.admin,
        })
      }
    } finally {
      stop = true
      await Promise.all([uploader, reader])
    }
    const seconds = (ms: number[]) => `median ${(ms.toSorted((x, y) => x - y)[ms.length >> 1] ?? 0) / 1000} s, max ${Math.max(...ms) / 1000} s`
    context.diagnostic(`${KILLS} leader SIGKILLs: → new leader ${seconds(leaderMs)}; → all ${nodes.length} nodes reconnected ${seconds(reconnectMs)}`)
    context.diagnostic(`${answered.length} uploads answered, ${failedUploads} refused or cut; ${reads} downloads during the kills`)
    assert.ok(answered.length >= KILLS, `only ${answered.length} uploads answered`)
    assert.ok(Math.max(...leaderMs) < 10_000, `new leader after ${Math.max(...leaderMs)} ms`)
    assert.ok(Math.max(...reconnectMs) < 10_000, `nodes reconnected after ${Math.max(...reconnectMs)} ms`)

    // Every answered upload, byte-identical through the proxy. Only the replica that staged an
    // upload holds its bytes until coordinators serve from the nodes, and haproxy alternates
    // replicas: two tries reach each once.
    for (const upload of answered) {
      const first = await download(via, token, upload.id)
      const read = first ?? (await download(via, token, upload.id))
      assert.ok(read?.equals(upload.bytes), `upload ${upload.id} (${upload.cid}) reads back byte-identical`)
    }

    // the leader now (a replica restarted in the loop, or the survivor) places a new pin
    const [fresh] = await api.upload([{ path: 'after-the-kills.bin', bytes: randomBytes(50_000) }], { path: '/Library/haproxy' })
    await until(async () => (pinnedOn(await api.pinStatus(fresh?.cid ?? '')).length === 2 ? true : undefined), 20_000, () => 'the new pin on two nodes')

    // a delete through either replica: the pin goes, its copies are unpinned on every node
    const victim = answered[0] as Answered
    await until(async () => (pinnedOn(await api.pinStatus(victim.cid)).length === 2 ? true : undefined), 30_000, () => 'the first upload on two nodes')
    const other = clusterApi((replicas[1] as { process: CoordinatorProcess }).process.url, token)
    await other.deleteEntry(victim.id)
    if (answered.filter((x) => x.cid === victim.cid).length === 1) {
      await until(async () => ((await api.pinStatus(victim.cid)) === undefined ? true : undefined), 10_000, () => 'the deleted pin gone')
      const repos = [...nodes.map((n) => n.repo), ...replicas.map((r) => join(r.process.dataDir, 'repo'))]
      await until(() => (repos.every((repo) => !repoPins(repo, victim.cid)) ? true : undefined), 15_000, () => 'no node or coordinator repo pinning the deleted content')
    }
  })
})
