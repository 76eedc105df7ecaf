import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { CID } from 'multiformats/cid'
import { PINFOLD_BIN } from './run-pinfold.ts'

export interface NodeProcess {
  /** Node id (derived from the repo's identity: the same across restarts of one repo). */
  id: string
  /** Where this start serves `/ipfs/` to peers (a fresh port per start by default). */
  gatewayUrl: string
  repo: string
  process: ChildProcess
  /** Output so far (stdout and stderr), for assertions and failure messages. */
  output(): string
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Graceful stop (SIGTERM) and wait for exit. */
  stop(): Promise<void>
  /** SIGKILL, as a crash (also of a SIGSTOPped process). */
  kill(): Promise<void>
  /** SIGSTOP: frozen, its connections stay open (the coordinator still sees it connected). */
  pause(): void
  /** SIGCONT. */
  resume(): void
}

export interface StartNodeOptions {
  /** Coordinator URL (`--join`). */
  join: string
  /** `--secret`; leave out to pass the secret another way (`--secret-file` in `args`, or `env`). */
  secret?: string
  /** The node's repo; a fresh temp directory when absent (restart: pass the same one). */
  repo?: string
  /** More flags, e.g. `['--name', 'a', '--report-interval', '300ms']`. */
  args?: string[]
  env?: NodeJS.ProcessEnv
  /** Resolve once the process printed its serving line (default), or right after spawn. */
  waitReady?: boolean
}

/**
 * Starts a real `pinfold node` process on 127.0.0.1 (peer gateway on an OS-chosen port)
 * and waits for its "Pinfold node <id> serving /ipfs/ on <url>" line. Mirrors
 * coordinator-process.ts; restart = start again with the same `repo`.
 */
export async function startNodeProcess(options: StartNodeOptions): Promise<NodeProcess> {
  const repo = options.repo ?? (await mkdtemp(join(tmpdir(), 'pinfold-node-')))
  const secret = options.secret === undefined ? [] : ['--secret', options.secret]
  const args = [PINFOLD_BIN, 'node', '--join', options.join, ...secret, '--repo', repo, ...(options.args ?? [])]
  const child = spawn(process.execPath, args, {
    env: { ...process.env, PINFOLD_LOG_LEVEL: 'warn', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  const ready = new Promise<{ id: string; gatewayUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start:\n${output}`)), 30_000)
    const check = () => {
      const match = /Pinfold node (\S+) serving \/ipfs\/ on (\S+),/.exec(output)
      if (match?.[1] && match[2]) {
        clearTimeout(timer)
        resolve({ id: match[1], gatewayUrl: match[2] })
      }
    }
    child.stdout?.on('data', check)
    void exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`node exited with ${code ?? signal}:\n${output}`))
    })
  })
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name)
    await exited
  }
  let started = { id: '', gatewayUrl: '' }
  if (options.waitReady !== false) {
    try {
      started = await ready
    } catch (error) {
      await signal('SIGKILL')
      throw error
    }
  } else ready.catch(() => undefined)
  return {
    ...started,
    repo,
    process: child,
    output: () => output,
    exited,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    pause: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGSTOP')
    },
    resume: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGCONT')
    },
  }
}

/** Kills every process still running (after hooks: SIGCONT first so a frozen one can die). */
export async function killAll(nodes: Iterable<NodeProcess | undefined>): Promise<void> {
  await Promise.all(
    [...nodes].map(async (node) => {
      if (!node) return
      node.resume()
      await node.kill()
    }),
  )
}

export async function removeRepo(repo: string): Promise<void> {
  await rm(repo, { recursive: true, force: true })
}

/** What a node repo's index holds, read from `<repo>/index.sqlite` (read-only; fine while the node runs: WAL). */
export interface RepoSnapshot {
  /** Recursive/direct pins, as CID strings (v1 base32 for comparison: use `sameCid`). */
  pins: string[]
  blocks: number
  bytes: number
  /** Whether the repo indexes the block of `cid`. */
  hasBlock(cid: string): boolean
  /** Child CIDs of a block, from the link index. */
  links(cid: string): string[]
}

export function readRepoIndex(repo: string): RepoSnapshot {
  const db = new DatabaseSync(join(repo, 'index.sqlite'), { readOnly: true, timeout: 5000 })
  try {
    const pins = (db.prepare('SELECT cid FROM pins').all() as { cid: Uint8Array }[]).map((r) => CID.decode(r.cid).toV1().toString())
    const totals = db.prepare('SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM blocks').get() as { n: number; bytes: number }
    const blockMhs = new Set((db.prepare('SELECT mh FROM blocks').all() as { mh: Uint8Array }[]).map((r) => Buffer.from(r.mh).toString('hex')))
    const links = new Map<string, string[]>()
    for (const row of db.prepare('SELECT parent, child_cid FROM links').all() as { parent: Uint8Array; child_cid: Uint8Array }[]) {
      const key = Buffer.from(row.parent).toString('hex')
      const list = links.get(key) ?? []
      list.push(CID.decode(row.child_cid).toString())
      links.set(key, list)
    }
    const mhHex = (cid: string) => Buffer.from(CID.parse(cid).multihash.bytes).toString('hex')
    return {
      pins,
      blocks: Number(totals.n),
      bytes: Number(totals.bytes),
      hasBlock: (cid) => blockMhs.has(mhHex(cid)),
      links: (cid) => links.get(mhHex(cid)) ?? [],
    }
  } finally {
    db.close()
  }
}

/** Whether a node repo pins `cid` (any CID version). */
export function repoPins(repo: string, cid: string): boolean {
  const v1 = CID.parse(cid).toV1().toString()
  return readRepoIndex(repo).pins.includes(v1)
}

/** Polls `fn` every 100 ms until it returns a value other than undefined (errors count as undefined). */
export async function until<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: () => string): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await Promise.resolve()
      .then(fn)
      .catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

export interface PinStatus {
  cid: string
  replicationMin: number
  replicationMax: number
  allocations: { nodeId: string; nodeStatus: string; status: string; reason: string | null }[]
}

export interface UploadedEntry {
  id: string
  path: string
  cid: string
  size: number
}

/** The few coordinator API calls the cluster tests make, with an admin access token. */
export function clusterApi(url: string, token: string) {
  const headers = { authorization: `Bearer ${token}` }
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await response.text()
    return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined }
  }
  return {
    call,
    /** POST /api/v1/uploads (files mode): one entry per file, in order. */
    async upload(files: { path: string; bytes: Uint8Array }[], fields: Record<string, string> = {}): Promise<UploadedEntry[]> {
      const form = new FormData()
      for (const [key, value] of Object.entries(fields)) form.append(key, value)
      for (const file of files) form.append('file', new Blob([file.bytes as Uint8Array<ArrayBuffer>]), file.path)
      const response = await fetch(`${url}/api/v1/uploads`, { method: 'POST', headers, body: form })
      const text = await response.text()
      if (response.status !== 201) throw new Error(`upload answered ${response.status}: ${text}`)
      const entries = (JSON.parse(text) as { upload: { entries?: UploadedEntry[] } }).upload.entries
      if (!entries || entries.length !== files.length) throw new Error(`upload without its entries: ${text}`)
      return entries
    },
    async deleteEntry(id: string): Promise<void> {
      const { status, body } = await call('DELETE', `/api/v1/entries/${id}`)
      if (status !== 200) throw new Error(`delete answered ${status}: ${JSON.stringify(body)}`)
    },
    /** GET /api/v1/pins/{cid}/status; undefined on 404. */
    async pinStatus(cid: string): Promise<PinStatus | undefined> {
      const { status, body } = await call('GET', `/api/v1/pins/${cid}/status`)
      if (status === 404) return undefined
      if (status !== 200) throw new Error(`pin status answered ${status}: ${JSON.stringify(body)}`)
      return body as PinStatus
    },
    async node(id: string): Promise<{ id: string; status: string; connected: boolean; cursor: number; pins: number } | undefined> {
      const { status, body } = await call('GET', `/api/v1/nodes/${id}`)
      return status === 200 ? (body as { id: string; status: string; connected: boolean; cursor: number; pins: number }) : undefined
    },
    async nodes(): Promise<{ id: string; status: string; connected: boolean }[]> {
      const { body } = await call('GET', '/api/v1/nodes')
      return (body as { nodes: { id: string; status: string; connected: boolean }[] }).nodes
    },
  }
}

export type ClusterApi = ReturnType<typeof clusterApi>

/** Node ids whose allocation of the pin is `pinned`. */
export function pinnedOn(status: PinStatus | undefined): string[] {
  return (status?.allocations ?? []).filter((a) => a.status === 'pinned').map((a) => a.nodeId)
}

/** Blocks and bytes a node repo's index holds (cheap: one query; fine while the node runs). */
export function repoTotals(repo: string): { blocks: number; bytes: number } {
  const db = new DatabaseSync(join(repo, 'index.sqlite'), { readOnly: true, timeout: 5000 })
  try {
    const row = db.prepare('SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM blocks').get() as { n: number; bytes: number }
    return { blocks: Number(row.n), bytes: Number(row.bytes) }
  } finally {
    db.close()
  }
}
