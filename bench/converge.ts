/**
 * `npm run bench:converge`: how long after an upload's answer every allocated node reports
 * the pin `pinned`, with a real coordinator (`pinfold serve`) and BENCH_CONVERGE_NODES (10)
 * `pinfold node` processes on this machine.
 *
 * For each replication setting — −1 (every node, the default) and min = max = 2 (through
 * PINFOLD_CLUSTER_DEFAULT_REPLICATION_MIN/MAX) — a fresh cluster is started, then
 * BENCH_CONVERGE_FILES (20) random files of BENCH_CONVERGE_KIB (1024) KiB are uploaded
 * (`POST /api/v1/uploads`), in two phases:
 * - one at a time: the next upload starts once the previous one has converged;
 * - burst: all uploaded back to back, each measured from its own answer.
 * Each pin's `GET /api/v1/pins/{cid}/status` is polled every 50 ms with an admin token; an
 * upload has converged when as many allocations as its goal (every node, or max) are `pinned`.
 * Results (p50/p95/max) go to docs/benchmarks.md (section `converge`). Temp dirs are removed.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CoordinatorProcess, startCoordinatorProcess } from '../test/helpers/coordinator-process.ts'
import { PINFOLD_BIN } from '../test/helpers/run-pinfold.ts'
import { loadAverage, machineLine, writeBenchSection } from './bench-report.ts'

const nodeCount = Number(process.env.BENCH_CONVERGE_NODES ?? 10)
const fileCount = Number(process.env.BENCH_CONVERGE_FILES ?? 20)
const fileKiB = Number(process.env.BENCH_CONVERGE_KIB ?? 1024)
const POLL_MS = 50
const RECONCILE_S = process.env.BENCH_CONVERGE_RECONCILE_S ?? '0.1'
const REPORT_INTERVAL = '500ms'
const SECRET = 'bench-converge-cluster-secret-0123456789'
/** One upload that has not converged after this long fails the run. */
const CONVERGE_TIMEOUT_MS = 60_000
const DEADLINE_MS = Number(process.env.BENCH_CONVERGE_TIMEOUT_S ?? 900) * 1000

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const children = new Set<ChildProcess>()
const tempDirs: string[] = []
const watchdog = setTimeout(() => {
  console.error(`bench:converge: gave up after ${DEADLINE_MS / 1000} s`)
  for (const child of children) child.kill('SIGKILL')
  process.exit(1)
}, DEADLINE_MS)
watchdog.unref()

interface NodeProcess {
  id: string
  child: ChildProcess
  output(): string
  stop(): Promise<void>
}

async function startNode(join_: string, repo: string, name: string): Promise<NodeProcess> {
  const args = [PINFOLD_BIN, 'node', '--join', join_, '--repo', repo, '--name', name]
  args.push('--report-interval', REPORT_INTERVAL, '--repair-interval', '0', '--ingest-poll', '10s')
  const child = spawn(process.execPath, args, {
    env: { ...process.env, PINFOLD_LOG_LEVEL: 'warn', PINFOLD_CLUSTER_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      children.delete(child)
      resolve()
    }),
  )
  const id = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${name} did not start:\n${output}`)), 30_000)
    const check = () => {
      const match = /Pinfold node (\S+) serving/.exec(output)
      if (match?.[1]) {
        clearTimeout(timer)
        resolve(match[1])
      }
    }
    child.stdout?.on('data', check)
    void exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`node ${name} exited:\n${output}`))
    })
  })
  return {
    id,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    },
  }
}

interface Allocation {
  nodeId: string
  status: string
}
interface PinStatus {
  replicationMin: number
  replicationMax: number
  allocations: Allocation[]
}

interface Cluster {
  coordinator: CoordinatorProcess
  nodes: NodeProcess[]
  auth: Record<string, string>
  stop(): Promise<void>
}

async function startCluster(env: Record<string, string>): Promise<Cluster> {
  const coordinator = await startCoordinatorProcess({
    env: { PINFOLD_CLUSTER_SECRET: SECRET, PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: RECONCILE_S, ...env },
  })
  children.add(coordinator.process)
  tempDirs.push(coordinator.dataDir)
  const auth = { authorization: `Bearer ${await coordinator.token()}` }
  const nodes: NodeProcess[] = []
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()))
    await coordinator.stop()
    children.delete(coordinator.process)
  }
  try {
    const dirs = await Promise.all(Array.from({ length: nodeCount }, () => mkdtemp(join(tmpdir(), 'pinfold-bench-node-'))))
    tempDirs.push(...dirs)
    nodes.push(...(await Promise.all(dirs.map((dir, i) => startNode(coordinator.url, dir, `bench-${i + 1}`)))))
    // every node online (joined and reported) before the first upload
    const deadline = Date.now() + 30_000
    for (;;) {
      const response = await fetch(`${coordinator.url}/api/v1/nodes`, { headers: auth })
      const body = (await response.json()) as { nodes?: Array<{ id: string; status: string }> }
      const online = (body.nodes ?? []).filter((n) => n.status === 'online').length
      if (online === nodeCount) break
      if (Date.now() > deadline) throw new Error(`only ${online} of ${nodeCount} nodes online: ${JSON.stringify(body)}`)
      await sleep(100)
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { coordinator, nodes, auth, stop }
}

async function upload(cluster: Cluster, index: number): Promise<{ cid: string; answeredAt: number }> {
  const form = new FormData()
  form.append('file', new Blob([randomBytes(fileKiB * 1024)]), `bench/converge-${Date.now()}-${index}.bin`)
  const response = await fetch(`${cluster.coordinator.url}/api/v1/uploads`, { method: 'POST', headers: cluster.auth, body: form })
  const answeredAt = performance.now()
  const text = await response.text()
  if (response.status !== 201) throw new Error(`upload answered ${response.status}: ${text.slice(0, 300)}`)
  const body = JSON.parse(text) as { upload: { cid?: string | null; entries?: Array<{ cid: string }> } }
  const cid = body.upload.entries?.[0]?.cid ?? body.upload.cid
  if (!cid) throw new Error(`upload without a CID: ${text.slice(0, 300)}`)
  return { cid, answeredAt }
}

/** Polls the pin's status until `goal` allocations are pinned; ms since the upload's answer. */
async function converged(cluster: Cluster, cid: string, answeredAt: number): Promise<{ ms: number; status: PinStatus }> {
  const deadline = answeredAt + CONVERGE_TIMEOUT_MS
  let last: PinStatus | undefined
  for (;;) {
    const response = await fetch(`${cluster.coordinator.url}/api/v1/pins/${cid}/status`, { headers: cluster.auth })
    const seenAt = performance.now()
    if (response.ok) {
      last = (await response.json()) as PinStatus
      const goal = last.replicationMax === -1 ? nodeCount : last.replicationMax
      const pinned = last.allocations.filter((a) => a.status === 'pinned').length
      if (pinned >= goal) return { ms: seenAt - answeredAt, status: last }
    } else {
      await response.body?.cancel()
    }
    if (seenAt > deadline) throw new Error(`${cid} not converged after ${CONVERGE_TIMEOUT_MS} ms: ${JSON.stringify(last)}`)
    await sleep(POLL_MS)
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

interface PhaseResult {
  p50: number
  p95: number
  max: number
  min: number
  /** Allocations per pin as the coordinator reported them (checks the replication setting took). */
  copies: number
  replication: string
  uploadMs: number
}

function summarize(times: number[], statuses: PinStatus[], uploadMs: number): PhaseResult {
  const sorted = [...times].sort((a, b) => a - b)
  const first = statuses[0] as PinStatus
  return {
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    max: sorted[sorted.length - 1] as number,
    min: sorted[0] as number,
    copies: Math.max(...statuses.map((s) => s.allocations.filter((a) => a.status === 'pinned').length)),
    replication: `${first.replicationMin}/${first.replicationMax}`,
    uploadMs,
  }
}

async function oneAtATime(cluster: Cluster): Promise<PhaseResult> {
  const times: number[] = []
  const statuses: PinStatus[] = []
  let uploadMs = 0
  for (let i = 0; i < fileCount; i++) {
    const started = performance.now()
    const { cid, answeredAt } = await upload(cluster, i)
    uploadMs += answeredAt - started
    const { ms, status } = await converged(cluster, cid, answeredAt)
    times.push(ms)
    statuses.push(status)
  }
  return summarize(times, statuses, uploadMs / fileCount)
}

async function burst(cluster: Cluster): Promise<PhaseResult> {
  const waits: Array<Promise<{ ms: number; status: PinStatus }>> = []
  let uploadMs = 0
  for (let i = 0; i < fileCount; i++) {
    const started = performance.now()
    const { cid, answeredAt } = await upload(cluster, fileCount + i)
    uploadMs += answeredAt - started
    const wait = converged(cluster, cid, answeredAt)
    wait.catch(() => {}) // awaited below; keeps an early failure from being unhandled
    waits.push(wait)
  }
  const results = await Promise.all(waits)
  return summarize(
    results.map((r) => r.ms),
    results.map((r) => r.status),
    uploadMs / fileCount,
  )
}

async function runSetting(label: string, env: Record<string, string>) {
  console.log(`${label}: starting a coordinator and ${nodeCount} nodes…`)
  const cluster = await startCluster(env)
  try {
    const sequential = await oneAtATime(cluster)
    const all = await burst(cluster)
    for (const [phase, r] of [
      ['one at a time', sequential],
      ['burst', all],
    ] as const) {
      console.log(
        `${label}, ${phase}: p50 ${r.p50.toFixed(0)} ms, p95 ${r.p95.toFixed(0)} ms, max ${r.max.toFixed(0)} ms (replication ${r.replication}, ${r.copies} copies)`,
      )
    }
    return { label, sequential, burst: all }
  } catch (err) {
    for (const node of cluster.nodes) console.error(`--- ${node.id}\n${node.output().slice(-2000)}`)
    console.error(`--- coordinator\n${cluster.coordinator.output().slice(-4000)}`)
    throw err
  } finally {
    await cluster.stop()
  }
}

const started = new Date()
const loadStart = loadAverage()
let results: Array<Awaited<ReturnType<typeof runSetting>>> = []
try {
  results = [
    await runSetting('replication −1 (every node)', {}),
    await runSetting('replication min = max = 2', {
      PINFOLD_CLUSTER_DEFAULT_REPLICATION_MIN: '2',
      PINFOLD_CLUSTER_DEFAULT_REPLICATION_MAX: '2',
    }),
  ]
} finally {
  for (const child of children) child.kill('SIGKILL')
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })))
}
const loadEnd = loadAverage()

const ms = (n: number) => `${n.toFixed(0)} ms`
const rows = results.flatMap(({ label, sequential, burst: all }) =>
  [
    ['one at a time', sequential],
    [`burst of ${fileCount}`, all],
  ].map(
    ([phase, r]) =>
      `| ${label} | ${phase as string} | ${(r as PhaseResult).replication} → ${(r as PhaseResult).copies} | ${ms((r as PhaseResult).p50)} | ${ms((r as PhaseResult).p95)} | ${ms((r as PhaseResult).max)} | ${ms((r as PhaseResult).uploadMs)} |`,
  ),
)

await writeBenchSection(
  'converge',
  `## bench:converge — upload answered → every allocated node \`pinned\`, ${nodeCount} nodes on one machine

Measured ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machineLine()}; load average (1/5/15 min)
${loadStart} at start, ${loadEnd} at end. A \`pinfold serve\` coordinator (SQLite, reconcile interval ${RECONCILE_S} s) and
${nodeCount} \`pinfold node\` processes (\`--report-interval ${REPORT_INTERVAL}\`) on 127.0.0.1, a fresh cluster per
setting; ${fileCount} random files of ${fileKiB} KiB uploaded with \`POST /api/v1/uploads\`, first one at a time (the next
upload after the previous converged), then in a burst (back to back, each timed from its own answer). The pin's
\`GET /api/v1/pins/{cid}/status\` is polled every ${POLL_MS} ms (admin token) until as many allocations as the goal
(every node for −1, else max) are \`pinned\`, so times are rounded up to the next poll.

| replication | uploads | min/max → copies pinned | p50 | p95 | max | mean upload answer |
|---|---|---|---:|---:|---:|---:|
${rows.join('\n')}

What bounds it: each node sends statuses in batches every 500 ms (StatusBatcher), so \`pinned\` reaches the
coordinator up to 0.5 s after the pin; new pins are allocated on the next reconcile tick (${RECONCILE_S} s here,
2 s by default); all ${nodeCount} nodes fetch from the coordinator (the only holder at first) on the same cores.`,
)
console.log('bench:converge done')
process.exit(0)
