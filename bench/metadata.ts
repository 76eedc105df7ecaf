/**
 * `npm run bench:metadata`: `GET /api/v1/entries?path=…` (stat by path) against a real
 * `pinfold serve` process whose SQLite registry holds 1,000,000 entries (BENCH_METADATA_DIRS
 * directories × BENCH_METADATA_FILES files under the admin's /Library, each file with a
 * valid CIDv1 and a size), loaded with autocannon in this process: random existing paths,
 * a bearer token on every request. Results go to docs/benchmarks.md (section `metadata`).
 *
 * The registry is seeded straight into the coordinator's registry.sqlite (node:sqlite,
 * prepared INSERTs in batched transactions) between a first start (which migrates and
 * bootstraps the admin) and the measured start. Only `entries` rows are seeded: stat by
 * path reads nothing else (no pins/pin_refs rows for the fake CIDs).
 */
import { createHash, randomUUID } from 'node:crypto'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { type CoordinatorProcess, startCoordinatorProcess } from '../test/helpers/coordinator-process.ts'
import { loadAverage, machineLine, writeBenchSection } from './bench-report.ts'

const DIRS = Number(process.env.BENCH_METADATA_DIRS ?? 1000)
const FILES = Number(process.env.BENCH_METADATA_FILES ?? 1000)
const CONNECTIONS = Number(process.env.BENCH_METADATA_CONNECTIONS ?? 10)
const DURATION_S = Number(process.env.BENCH_METADATA_SECONDS ?? 20)
const WARMUP_S = 3
/** The rate limiter stays installed (its hook runs per request) but never trips. */
const RATE_LIMIT_PER_MINUTE = 1_000_000_000
/** Extra NODE_OPTIONS for the serve process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
const SERVE_NODE_OPTIONS = process.env.BENCH_METADATA_SERVE_NODE_OPTIONS ?? ''
/** Removed at the end unless BENCH_METADATA_KEEP=1 (kept, and reused by the next run with the same shape). */
const workDir = join(process.cwd(), '.bench-data', 'metadata')
const dataDir = join(workDir, 'coordinator')

interface AutocannonResult {
  requests: { average: number; total: number }
  latency: { p50: number; p90: number; p99: number; max: number; average: number }
  errors: number
  timeouts: number
  non2xx: number
  duration: number
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>
// autocannon ships no types; this is the subset used here
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon

/** A valid CIDv1 (raw, sha2-256) per file index: fake content, real CID syntax. */
function fakeCid(i: number): string {
  const hash = createHash('sha256').update(`pinfold-bench-${i}`).digest()
  return CID.createV1(0x55, Digest.create(0x12, hash)).toString()
}

/** Seeds DIRS × FILES file entries (plus the directories) under the admin's /Library. */
function seed(registryFile: string): number {
  const db = new DatabaseSync(registryFile)
  try {
    // a throwaway registry: durability during the seed buys nothing
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144')
    const root = db.prepare(`select e.id, e.account_id from entries e join accounts a on a.id = e.account_id
      where a.role = 'admin' and e.parent_id is null`).get() as { id: string; account_id: string } | undefined
    if (root === undefined) throw new Error('no admin /Library root to seed under')
    const insert = db.prepare(`insert into entries (id, account_id, parent_id, name, kind, cid, size, mtime, version, created_at, updated_at)
      values (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`)
    const t = Date.now()
    let rows = 0
    for (let d = 0; d < DIRS; d++) {
      db.exec('begin')
      const dirId = randomUUID()
      insert.run(dirId, root.account_id, root.id, `dir-${d}`, 'directory', null, 0, t, t, t)
      for (let f = 0; f < FILES; f++) {
        const i = d * FILES + f
        insert.run(randomUUID(), root.account_id, dirId, `file-${f}`, 'file', fakeCid(i), 1024 + (i % 1_000_000), t, t, t)
      }
      db.exec('commit')
      rows += FILES + 1
    }
    // no ANALYZE: the coordinator never runs it, so the planner sees what production sees
    db.exec('pragma wal_checkpoint(truncate)')
    return rows
  } finally {
    db.close()
  }
}

/** CPU time (user + system) a process has used so far, in ms, from /proc (Linux). */
function processCpuMs(pid: number): number {
  // fields after the parenthesised command name; utime and stime are the 12th and 13th of them
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  const ticks = Number(fields[11]) + Number(fields[12])
  return (ticks * 1000) / 100 // USER_HZ is 100 on Linux
}

const randomPath = () =>
  `/api/v1/entries?path=${encodeURIComponent(`/Library/dir-${Math.floor(Math.random() * DIRS)}/file-${Math.floor(Math.random() * FILES)}`)}`

const watchdog = setTimeout(() => {
  console.error('bench:metadata: gave up after 10 min')
  process.exit(1)
}, 600_000)
watchdog.unref()

const loadStart = loadAverage()
const keep = process.env.BENCH_METADATA_KEEP === '1'
const seededFile = join(workDir, 'seeded.json')
const env = { PINFOLD_AUTH_RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT_PER_MINUTE) }
let result: AutocannonResult
/** CPU time per request (µs) of the server process and of the load generator, over the measured run. */
let cpu: { serverUs: number; clientUs: number }
let seedMs: number
let rows: number
// with BENCH_METADATA_KEEP=1 a registry seeded by an earlier run with the same shape is reused
const reused = keep
  ? await readFile(seededFile, 'utf8')
      .then((text) => JSON.parse(text) as { dirs: number; files: number; rows: number; seedMs: number; admin: CoordinatorProcess['admin'] })
      .then((seeded) => (seeded.dirs === DIRS && seeded.files === FILES ? seeded : undefined))
      .catch(() => undefined)
  : undefined
if (reused === undefined) await rm(workDir, { recursive: true, force: true })
try {
  let admin: CoordinatorProcess['admin']
  if (reused) {
    rows = reused.rows
    seedMs = reused.seedMs
    admin = reused.admin
    console.log(`reusing ${rows.toLocaleString('en')} seeded entries in ${workDir}`)
  } else {
    // first start: migrations and the admin account (with its /Library root)
    const first = await startCoordinatorProcess({ dataDir, env })
    admin = first.admin
    await first.stop()
    const seedStarted = performance.now()
    rows = seed(join(dataDir, 'registry.sqlite'))
    seedMs = performance.now() - seedStarted
    console.log(`seeded ${rows.toLocaleString('en')} entries in ${(seedMs / 1000).toFixed(1)} s`)
    if (keep) await writeFile(seededFile, JSON.stringify({ dirs: DIRS, files: FILES, rows, seedMs, admin }))
  }

  const coordinator = await startCoordinatorProcess({
    dataDir,
    admin,
    env: { ...env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${SERVE_NODE_OPTIONS}`.trim() },
  })
  try {
    const token = await coordinator.token()
    const probe = await fetch(`${coordinator.url}${randomPath()}`, { headers: { authorization: `Bearer ${token}` } })
    if (probe.status !== 200) throw new Error(`stat by path answered ${probe.status}: ${await probe.text()}`)
    const options = {
      url: coordinator.url,
      connections: CONNECTIONS,
      headers: { authorization: `Bearer ${token}` },
      requests: [{ method: 'GET', setupRequest: (request: { path: string }) => ({ ...request, path: randomPath() }) }],
    }
    await autocannon({ ...options, duration: WARMUP_S })
    const pid = coordinator.process.pid ?? 0
    const serverCpuBefore = processCpuMs(pid)
    const clientCpuBefore = process.cpuUsage()
    result = await autocannon({ ...options, duration: DURATION_S })
    const clientCpu = process.cpuUsage(clientCpuBefore)
    cpu = {
      serverUs: ((processCpuMs(pid) - serverCpuBefore) * 1000) / result.requests.total,
      clientUs: (clientCpu.user + clientCpu.system) / result.requests.total,
    }
  } finally {
    await coordinator.stop()
  }
} finally {
  if (!keep) await rm(workDir, { recursive: true, force: true })
}
const loadEnd = loadAverage()

const reqPerS = result.requests.average
const failed = result.errors + result.timeouts + result.non2xx
const rateMet = reqPerS >= 5000
const p99Met = result.latency.p99 < 20
const verdict = (met: boolean) => (met ? 'met' : '**missed**')
// the server is one thread: with a core to itself it could answer at most this many per second
const serverCapacity = 1e6 / cpu.serverUs
console.log(`${reqPerS.toFixed(0)} req/s (target ≥ 5,000: ${rateMet ? 'met' : 'missed'})`)
console.log(
  `latency p50 ${result.latency.p50} ms, p90 ${result.latency.p90} ms, p99 ${result.latency.p99} ms (target < 20: ${p99Met ? 'met' : 'missed'}), max ${result.latency.max} ms`,
)
console.log(
  `CPU per request: server ${cpu.serverUs.toFixed(0)} µs (≤ ${serverCapacity.toFixed(0)} req/s on one free core), load generator ${cpu.clientUs.toFixed(0)} µs`,
)
console.log(`${result.requests.total} requests, ${failed} failed; load average ${loadStart} at start, ${loadEnd} at end`)
if (failed > 0) throw new Error(`${failed} requests failed (errors ${result.errors}, timeouts ${result.timeouts}, non-2xx ${result.non2xx})`)

await writeBenchSection(
  'metadata',
  `## bench:metadata — stat by path, ${rows.toLocaleString('en')} entries (SQLite) — \`npm run bench:metadata\`

Measured ${new Date().toISOString().slice(0, 10)} on ${machineLine()}. Load average (1/5/15 min):
${loadStart} at start, ${loadEnd} at end (other work may share the machine).

\`GET /api/v1/entries?path=/Library/dir-N/file-M\` (random existing paths, bearer token on every
request) against a real \`pinfold serve\` process with its SQLite registry in its data dir:
${DIRS.toLocaleString('en')} directories × ${FILES.toLocaleString('en')} files under the admin's /Library, each file with a valid CIDv1
and a size (seeded by prepared INSERTs in ${(seedMs / 1000).toFixed(1)} s; no ANALYZE, as in production). autocannon runs in the
benchmark process, **sharing the 2 cores with the server**: ${CONNECTIONS} connections, ${DURATION_S} s after a ${WARMUP_S} s warm-up.
\`PINFOLD_AUTH_RATE_LIMIT_PER_MINUTE=${RATE_LIMIT_PER_MINUTE}\` so the rate limiter (still installed, its hooks
still run) never answers 429.

| req/s | p50 ms | p90 ms | p99 ms | max ms | requests | failed | server CPU µs/req | load generator CPU µs/req |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| ${reqPerS.toFixed(0)} | ${result.latency.p50} | ${result.latency.p90} | ${result.latency.p99} | ${result.latency.max} | ${result.requests.total} | ${failed} | ${cpu.serverUs.toFixed(0)} | ${cpu.clientUs.toFixed(0)} |

Targets: ≥ 5,000 req/s — ${verdict(rateMet)}; p99 < 20 ms — ${verdict(p99Met)}. The server's CPU time per request
bounds it at **${serverCapacity.toFixed(0)} req/s** even with a core of its own (one thread); CPU time per request also
grows when the machine is busy, so compare it only between runs at similar load. Profile the server with
\`BENCH_METADATA_SERVE_NODE_OPTIONS='--cpu-prof --cpu-prof-dir=DIR'\` (BENCH_METADATA_KEEP=1 reuses the seeded registry).`,
)
