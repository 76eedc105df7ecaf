/**
 * `npm run demo:ha`: many coordinators on one PostgreSQL, on 127.0.0.1 — a throwaway
 * PostgreSQL server, two `pinfold serve` replicas, haproxy in front of them (health checks
 * on `/readyz`) and three storage nodes given both coordinator URLs. One file is uploaded
 * through the proxy and its replication shown; then everything keeps running, with where to
 * look printed, until Ctrl-C stops every process and removes the temp directories.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './free-port.ts'
import { type Haproxy, startHaproxy } from './haproxy.ts'
import { ProcessGroup, waitFor } from './process-group.ts'
import { createThrowawayPostgres, postgresBinDir, type ThrowawayPostgres } from './throwaway-postgres.ts'

const REPLICAS = 2
const NODES = 3
const COPIES = 2
const START_DEADLINE_MS = 90_000
const say = (line = '') => {
  if (process.stdout.writable) process.stdout.write(`${line}\n`)
}
process.stdout.on('error', () => undefined)

const group = new ProcessGroup(say)
let root = ''
let postgres: ThrowawayPostgres | undefined
let proxy: Haproxy | undefined

async function stopAll(): Promise<void> {
  await group.stopAll()
  await proxy?.stop()
  await postgres?.destroy()
  if (root) await rm(root, { recursive: true, force: true })
}

async function readyz(url: string): Promise<{ leader: boolean } | undefined> {
  const response = await fetch(`${url}/readyz`).catch(() => undefined)
  return response?.ok ? ((await response.json()) as { leader: boolean }) : undefined
}

async function main(): Promise<void> {
  const bin = postgresBinDir()
  if (bin === undefined) throw new Error('no PostgreSQL server binaries (Debian: apt-get install postgresql; or set PINFOLD_PG_BIN)')
  root = await mkdtemp(join(tmpdir(), 'pinfold-demo-ha-'))
  postgres = await createThrowawayPostgres(bin)
  await postgres.start()
  say(`PostgreSQL     ${postgres.url}`)

  const env = {
    PINFOLD_LOG_LEVEL: 'warn',
    PINFOLD_CLUSTER_SECRET: randomBytes(24).toString('hex'),
    PINFOLD_CLUSTER_DEFAULT_REPLICATION_MIN: String(COPIES),
    PINFOLD_CLUSTER_DEFAULT_REPLICATION_MAX: String(COPIES),
  }
  const coordinators: string[] = []
  let apiKey = ''
  let credentials = ''
  for (let i = 1; i <= REPLICAS; i++) {
    const address = `127.0.0.1:${await freePort()}`
    // one at a time: the first creates the schema, the shared secrets and the admin account
    const proc = group.run(`coordinator-${i}`, ['serve', '--listen', address, '--data-dir', join(root, `coordinator-${i}`), '--db', postgres.url], env)
    const url = await waitFor(`coordinator ${i}`, () => /listening on (http:\/\/\S+)/.exec(proc.output())?.[1], proc)
    if (i === 1) {
      apiKey = /API key:\s+(\S+)/.exec(proc.output())?.[1] ?? ''
      credentials = `email ${/email:\s+(\S+)/.exec(proc.output())?.[1]}  password ${/password:\s+(\S+)/.exec(proc.output())?.[1]}`
    }
    coordinators.push(url)
    say(`coordinator ${i}  ${url}`)
  }
  proxy = await startHaproxy({
    port: await freePort(),
    statsPort: await freePort(),
    backends: coordinators.map((url) => new URL(url).host),
    dir: root,
  })
  const via = proxy.url
  await waitFor('haproxy to see a ready replica', async () => ((await readyz(via)) ? true : undefined))
  say(`haproxy        ${via}  (status page ${proxy.statsUrl})`)

  for (let i = 1; i <= NODES; i++) {
    const name = `node-${i}`
    const proc = group.run(
      name,
      ['node', '--join', coordinators.join(','), '--repo', join(root, name), '--name', name, '--tag', `zone=z${i}`, '--report-interval', '1s', '--listen', '127.0.0.1:0'],
      env,
    )
    const match = await waitFor(`${name} to start`, () => /Pinfold node (\S+) serving \/ipfs\/ on (\S+),/.exec(proc.output()) ?? undefined, proc)
    say(`${name}         ${match[2]}  id ${(match[1] ?? '').slice(0, 16)}…`)
  }

  const token = await waitFor('a token through the proxy', async () => {
    const response = await fetch(`${via}/api/v1/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey }) })
    return response.ok ? ((await response.json()) as { accessToken: string }).accessToken : undefined
  })
  const auth = { authorization: `Bearer ${token}` }
  const form = new FormData()
  form.append('path', '/Library/demo-ha')
  form.append('file', new Blob([new TextEncoder().encode('uploaded through haproxy\n')]), 'hello.txt')
  const uploaded = await fetch(`${via}/api/v1/uploads`, { method: 'POST', headers: auth, body: form })
  if (uploaded.status !== 201) throw new Error(`upload failed: ${uploaded.status} ${await uploaded.text()}`)
  const cid = ((await uploaded.json()) as { upload: { entries: { cid: string }[] } }).upload.entries[0]?.cid ?? ''
  await waitFor(`${COPIES} copies of the upload`, async () => {
    const view = (await (await fetch(`${via}/api/v1/pins/${cid}/status`, { headers: auth })).json()) as { allocations: { status: string }[] }
    return view.allocations.filter((a) => a.status === 'pinned').length >= COPIES ? true : undefined
  })
  const leaders = await Promise.all(coordinators.map(async (url) => ((await readyz(url))?.leader ? 'leader' : 'follower')))

  say()
  say(`Uploaded /Library/demo-ha/hello.txt (${cid}) through the proxy; ${COPIES} copies pinned on the nodes.`)
  say(`Replicas: ${coordinators.map((url, i) => `${url} (${leaders[i]})`).join(', ')}`)
  say(`Portal and API: ${via}   admin ${credentials}`)
  say(`  curl ${via}/readyz            which replica answered, and whether it leads`)
  say(`  curl -H 'authorization: Bearer <token>' ${via}/api/v1/nodes`)
  say(`  kill -9 the leader's pid: the other replica leads within seconds and the nodes reconnect to it`)
  say(`pids: ${group.procs.map((p) => `${p.name} ${p.child.pid}`).join(', ')}`)
  say('Ctrl-C stops everything and removes the temp directories.')
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`\n${signal}: stopping…`)
    void stopAll().finally(() => process.exit(0))
  })
}

const deadline = setTimeout(() => {
  say(`\nDemo failed: not started within ${START_DEADLINE_MS / 1000} s. Output of the processes:`)
  for (const proc of group.procs) say(`--- ${proc.name} ---\n${proc.output().trim()}`)
  if (proxy) say(`--- haproxy ---\n${proxy.output().trim()}`)
  void stopAll().finally(() => process.exit(1))
}, START_DEADLINE_MS)

try {
  await main()
  clearTimeout(deadline)
  // keep running until Ctrl-C
  setInterval(() => undefined, 60_000)
} catch (error) {
  clearTimeout(deadline)
  say(`\nDemo failed: ${(error as Error).message}`)
  await stopAll().catch(() => undefined)
  process.exitCode = 1
}
