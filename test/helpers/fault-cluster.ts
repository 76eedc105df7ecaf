import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { CID } from 'multiformats/cid'
import pg from 'pg'
import { type CoordinatorProcess, startCoordinatorProcess } from './coordinator-process.ts'
import { type ClusterApi, clusterApi, killAll, type NodeProcess, readRepoIndex, startNodeProcess, until } from './node-process.ts'

/** What a process writes when an error escaped every handler (the crash guard), or Node when it dies of one. */
const FAULT_LINE = /escaped every handler|uncaughtException|unhandledRejection|Unhandled 'error' event/g

export interface FaultClusterOptions {
  /** Storage nodes by name → extra `pinfold node` flags (default storage path: `store::1`). */
  nodes: Record<string, string[]>
  /** Copies of every new pin (replication min = max). */
  copies: number
  /** More coordinator settings as PINFOLD_* variables (timeouts). */
  env?: Record<string, string>
  /** Registry URL (PostgreSQL); SQLite in the data dir by default. */
  db?: string
}

/**
 * A coordinator and storage nodes as real processes that a fault test kills and restarts at
 * will. Every exit the test did not ask for is counted as a crash, and so is every line in
 * which a process reports an error that escaped its handlers. The coordinator always comes
 * back on its first port, so nodes and clients keep their URL.
 */
export interface FaultCluster {
  readonly coordinator: CoordinatorProcess
  readonly url: string
  readonly token: string
  readonly api: ClusterApi
  readonly nodes: Map<string, NodeProcess>
  readonly copies: number
  /** SIGKILL (`kill`) or SIGTERM (`stop`), then optionally wait (`beforeStart`), then start on the same data dir and port. */
  restartCoordinator(how: 'kill' | 'stop', beforeStart?: () => Promise<void>): Promise<void>
  /** Ends the coordinator (an outage) until `startCoordinator`. */
  stopCoordinator(how: 'kill' | 'stop'): Promise<void>
  startCoordinator(): Promise<void>
  /** SIGKILL or SIGTERM a node, then start it again on the same repo and wait until the coordinator sees it online. */
  restartNode(name: string, how: 'kill' | 'stop', extraArgs?: string[]): Promise<NodeProcess>
  /** Exits nobody asked for, plus fault lines in every process's output so far. */
  crashes(): number
  /**
   * Whether every pin of `cids` has `copies` pinned allocations and every allocation tells the
   * truth: `pinned` exactly where that node's repo pins the CID.
   */
  statusesTrue(cids: string[]): Promise<boolean>
  /** Polls `statusesTrue` (bounded); returns the milliseconds it took. */
  waitStatusesTrue(cids: string[], timeoutMs: number): Promise<number>
  /**
   * Allocations made beyond the first `copies` of each pin, from the registry's change feed
   * (SQLite or PostgreSQL): a pin that was ever queued on more nodes than it needs was re-allocated.
   * Pins that were ever allocated to one of `excusedNodes` (a node with a real fault) are left out.
   */
  reallocations(cids: string[], excusedNodes?: string[]): Promise<number>
  logs(): string
  close(): Promise<void>
}

export async function startFaultCluster(options: FaultClusterOptions): Promise<FaultCluster> {
  const workDir = await mkdtemp(join(tmpdir(), 'pinfold-faults-'))
  const secret = 'fault-suite-cluster-secret-0123456789'
  const env = {
    PINFOLD_CLUSTER_SECRET: secret,
    PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: '0.3',
    PINFOLD_CLUSTER_DEFAULT_REPLICATION_MIN: String(options.copies),
    PINFOLD_CLUSTER_DEFAULT_REPLICATION_MAX: String(options.copies),
    ...options.env,
  }
  const dataDir = join(workDir, 'coordinator')
  const ending = new WeakSet<object>()
  const ended: string[] = []
  let unexpectedExits = 0
  const watch = (child: CoordinatorProcess['process'], what: string, output: () => string) => {
    child.once('exit', (code, signal) => {
      ended.push(output())
      if (!ending.has(child)) {
        unexpectedExits++
        ended.push(`--- ${what} exited by itself: ${code ?? signal} ---`)
      }
    })
  }
  let coordinator = await startCoordinatorProcess({ dataDir, env, ...(options.db ? { db: options.db } : {}) })
  watch(coordinator.process, 'coordinator', coordinator.output)
  const admin = coordinator.admin
  const listen = new URL(coordinator.url).host
  const token = await coordinator.token()
  const api = clusterApi(coordinator.url, token)
  const nodes = new Map<string, NodeProcess>()

  const logs = () =>
    `\n--- coordinator ---\n${coordinator.output().slice(-3000)}\n${[...nodes].map(([name, n]) => `--- node ${name} ---\n${n.output().slice(-2000)}`).join('\n')}`

  async function startNode(name: string, extraArgs: string[] = []): Promise<NodeProcess> {
    const flags = options.nodes[name] ?? []
    const storage = flags.includes('--storage-path') ? [] : ['--storage-path', 'store::1']
    const node = await startNodeProcess({
      join: coordinator.url,
      secret,
      repo: join(workDir, `node-${name}`),
      args: ['--name', name, ...storage, '--report-interval', '300ms', '--reconnect-max', '500ms', ...flags, ...extraArgs],
    })
    watch(node.process, `node ${name}`, node.output)
    nodes.set(name, node)
    await until(async () => ((await api.node(node.id))?.status === 'online' ? true : undefined), 20_000, () => `node ${name} online${logs()}`)
    return node
  }

  const endCoordinator = async (how: 'kill' | 'stop') => {
    ending.add(coordinator.process)
    await coordinator[how]()
  }
  const startCoordinator = async () => {
    coordinator = await startCoordinatorProcess({ dataDir, env, admin, args: ['--listen', listen], ...(options.db ? { db: options.db } : {}) })
    watch(coordinator.process, 'coordinator', coordinator.output)
  }

  for (const name of Object.keys(options.nodes)) await startNode(name)

  const statusesTrue = async (cids: string[]) => {
    const held = new Map([...nodes.values()].map((n) => [n.id, new Set(readRepoIndex(n.repo).pins)]))
    for (const cid of cids) {
      const status = await api.pinStatus(cid)
      if (!status) return false
      const v1 = CID.parse(cid).toV1().toString()
      let pinned = 0
      for (const allocation of status.allocations) {
        const isPinned = allocation.status === 'pinned'
        if (isPinned !== (held.get(allocation.nodeId)?.has(v1) ?? false)) return false
        if (isPinned) pinned++
      }
      if (pinned < options.copies) return false
    }
    return true
  }

  return {
    get coordinator() {
      return coordinator
    },
    url: coordinator.url,
    token,
    api,
    nodes,
    copies: options.copies,
    async restartCoordinator(how, beforeStart) {
      await endCoordinator(how)
      await beforeStart?.()
      await startCoordinator()
    },
    stopCoordinator: endCoordinator,
    startCoordinator,
    async restartNode(name, how, extraArgs) {
      const node = nodes.get(name)
      if (node) {
        ending.add(node.process)
        await node[how]()
      }
      return startNode(name, extraArgs)
    },
    crashes: () => {
      const outputs = [...ended, coordinator.output(), ...[...nodes.values()].map((n) => n.output())]
      return unexpectedExits + outputs.reduce((sum, text) => sum + (text.match(FAULT_LINE)?.length ?? 0), 0)
    },
    statusesTrue,
    async waitStatusesTrue(cids, timeoutMs) {
      const started = Date.now()
      await until(async () => ((await statusesTrue(cids)) ? true : undefined), timeoutMs, () => `every status true for ${cids.length} pins${logs()}`)
      return Date.now() - started
    },
    async reallocations(cids, excusedNodes = []) {
      const excused = new Set(excusedNodes)
      const queuedOn = new Map<string, Set<string>>()
      for (const row of await queuedChanges(options.db ?? `sqlite:${join(dataDir, 'registry.sqlite')}`)) {
        queuedOn.set(row.cid, (queuedOn.get(row.cid) ?? new Set()).add(row.node_id))
      }
      let extra = 0
      for (const cid of cids) {
        const on = queuedOn.get(cid) ?? new Set()
        if (![...on].some((id) => excused.has(id))) extra += Math.max(0, on.size - options.copies)
      }
      return extra
    },
    logs,
    async close() {
      for (const node of nodes.values()) ending.add(node.process)
      ending.add(coordinator.process)
      await killAll(nodes.values())
      await coordinator.kill()
      await rm(workDir, { recursive: true, force: true })
    },
  }
}

const QUEUED_CHANGES = "SELECT cid, node_id FROM changes WHERE status = 'queued'"

/** Every allocation the registry's change feed recorded (read-only; fine while the coordinator runs). */
async function queuedChanges(db: string): Promise<{ cid: string; node_id: string }[]> {
  if (db.startsWith('sqlite:')) {
    const sqlite = new DatabaseSync(db.slice('sqlite:'.length), { readOnly: true, timeout: 5000 })
    try {
      return sqlite.prepare(QUEUED_CHANGES).all() as { cid: string; node_id: string }[]
    } finally {
      sqlite.close()
    }
  }
  const client = new pg.Client({ connectionString: db })
  await client.connect()
  try {
    return (await client.query<{ cid: string; node_id: string }>(QUEUED_CHANGES)).rows
  } finally {
    await client.end()
  }
}

/** One scenario's figures, printed as a `fault-suite {...}` line (collected into docs/reliability.md). */
export interface FaultFigures {
  scenario: string
  faults: number
  acknowledged: number
  lost: number
  wrongReads: number
  crashes: number
  /** Milliseconds from the end of the last fault until every status was true again; null = not within the wait. */
  statusesTrueAfterMs: number | null
  needlessReallocations: number
  [more: string]: unknown
}

export function reportFigures(figures: FaultFigures): void {
  console.log(`fault-suite ${JSON.stringify(figures)}`)
}
