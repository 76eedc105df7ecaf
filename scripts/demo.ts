/**
 * `npm run demo`: a coordinator and three storage nodes on 127.0.0.1, each a separate
 * `pinfold` process with its own temp directory; sample files and a folder are uploaded,
 * replication (2 copies per pin) is polled until every pin has its copies and printed as a
 * table, then every process is stopped with SIGTERM and the temp directories are removed.
 * Fails with a clear message after 60 s.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ProcessGroup, type Proc, waitFor } from './process-group.ts'

const DEADLINE_MS = 60_000
const NODES = 3
const COPIES = 2
const started = Date.now()
const say = (line = '') => {
  if (process.stdout.writable) process.stdout.write(`${line}\n`)
}
// output closed early (e.g. piped into `head`): keep going so the cleanup still runs
process.stdout.on('error', () => undefined)
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`

const group = new ProcessGroup(say)
const procs = group.procs
const run = (name: string, args: string[], env: NodeJS.ProcessEnv): Proc => group.run(name, args, env)
let root = ''

/** Stops every process and removes the temp dirs. */
async function stopAll(): Promise<void> {
  await group.stopAll()
  if (root) await rm(root, { recursive: true, force: true })
}

async function main(): Promise<void> {
  root = await mkdtemp(join(tmpdir(), 'pinfold-demo-'))
  const secret = randomBytes(24).toString('hex')
  const env = {
    PINFOLD_LOG_LEVEL: 'warn',
    PINFOLD_CLUSTER_SECRET: secret,
    PINFOLD_CLUSTER_DEFAULT_REPLICATION_MIN: String(COPIES),
    PINFOLD_CLUSTER_DEFAULT_REPLICATION_MAX: String(COPIES),
    PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: '0.5',
  }
  say(`Pinfold demo: 1 coordinator + ${NODES} storage nodes on 127.0.0.1, ${COPIES} copies per pin (temp dir ${root})`)

  const coordinator = run('coordinator', ['serve', '--listen', '127.0.0.1:0', '--data-dir', join(root, 'coordinator')], env)
  const url = await waitFor('the coordinator', () => /listening on (http:\/\/\S+)/.exec(coordinator.output())?.[1], coordinator)
  const apiKey = /API key:\s+(\S+)/.exec(coordinator.output())?.[1] ?? ''
  say(`  coordinator  ${url}  (${elapsed()})`)

  const nodes: { proc: Proc; id: string; name: string }[] = []
  for (let i = 1; i <= NODES; i++) {
    const name = `node-${i}`
    const proc = run(
      name,
      ['node', '--join', url, '--repo', join(root, name), '--name', name, '--tag', `zone=z${i}`, '--report-interval', '1s', '--listen', '127.0.0.1:0'],
      env,
    )
    nodes.push({ proc, id: '', name })
  }
  for (const node of nodes) {
    const match = await waitFor(`${node.name} to start`, () => /Pinfold node (\S+) serving \/ipfs\/ on (\S+),/.exec(node.proc.output()) ?? undefined, node.proc)
    node.id = match[1] ?? ''
    say(`  ${node.name}       ${match[2]}  id ${node.id.slice(0, 16)}… (${elapsed()})`)
  }

  const tokenResponse = await fetch(`${url}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiKey }),
  })
  if (!tokenResponse.ok) throw new Error(`could not get a token: ${tokenResponse.status} ${await tokenResponse.text()}`)
  const auth = { authorization: `Bearer ${((await tokenResponse.json()) as { accessToken: string }).accessToken}` }
  await waitFor('three nodes online', async () => {
    const { nodes: listed } = (await (await fetch(`${url}/api/v1/nodes`, { headers: auth })).json()) as { nodes: { status: string }[] }
    return listed.filter((n) => n.status === 'online').length === NODES ? true : undefined
  })
  say(`  ${NODES} nodes online after ${elapsed()}`)
  say()

  // sample data: a few files, and a folder (one UnixFS directory)
  const uploaded: { path: string; cid: string; size: number }[] = []
  const upload = async (fields: Record<string, string>, files: [string, string][]) => {
    const form = new FormData()
    for (const [key, value] of Object.entries(fields)) form.append(key, value)
    for (const [name, text] of files) form.append('file', new Blob([new TextEncoder().encode(text)]), name)
    const response = await fetch(`${url}/api/v1/uploads`, { method: 'POST', headers: auth, body: form })
    if (response.status !== 201) throw new Error(`upload failed: ${response.status} ${await response.text()}`)
    const body = (await response.json()) as { upload: { entries: { path: string; cid: string; size: number }[] } }
    uploaded.push(...body.upload.entries)
  }
  const lorem = (n: number) => Array.from({ length: n }, (_, i) => `line ${i}: content-addressed and replicated\n`).join('')
  await upload({ path: '/Library/demo' }, [
    ['readme.txt', 'Pinfold demo: replicated, content-addressed storage.\n'],
    ['notes.md', `# Notes\n\n${lorem(50)}`],
    ['big.log', lorem(40_000)],
  ])
  await upload({ path: '/Library/demo', mode: 'folder', name: 'site' }, [
    ['site/index.html', '<h1>Hello from Pinfold</h1>\n'],
    ['site/css/style.css', 'h1 { color: teal }\n'],
    ['site/data.json', JSON.stringify({ demo: true, at: new Date().toISOString() })],
  ])
  say(`Uploaded ${uploaded.length} entries (3 files, 1 folder); waiting for ${COPIES} pinned copies of each…`)

  const names = new Map(nodes.map((n) => [n.id, n.name]))
  type View = { allocations: { nodeId: string; status: string }[] }
  const views = await waitFor('every pin to have its copies', async () => {
    const all = await Promise.all(
      uploaded.map(async (entry) => (await (await fetch(`${url}/api/v1/pins/${entry.cid}/status`, { headers: auth })).json()) as View),
    )
    return all.every((v) => v.allocations.filter((a) => a.status === 'pinned').length >= COPIES) ? all : undefined
  })
  say(`All pins replicated after ${elapsed()}:`)
  say()
  const rows = uploaded.map((entry, i) => {
    const pinned = (views[i]?.allocations ?? []).filter((a) => a.status === 'pinned')
    return [entry.path, `${entry.cid.slice(0, 14)}…`, String(entry.size), `${pinned.length}/${COPIES}`, pinned.map((a) => names.get(a.nodeId) ?? a.nodeId).join(', ')]
  })
  const header = ['PATH', 'CID', 'BYTES', 'COPIES', 'NODES']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  for (const row of [header, ...rows]) say(`  ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}`)
  say()
  say('Stopping…')
}

// Ctrl-C: stop the children and remove the temp dirs instead of orphaning them
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`\n${signal}: stopping…`)
    void stopAll().finally(() => process.exit(130))
  })
}

const deadline = setTimeout(() => {
  say(`\nDemo failed: not done within ${DEADLINE_MS / 1000} s. Output of the processes:`)
  for (const proc of procs) say(`--- ${proc.name} ---\n${proc.output().trim()}`)
  for (const proc of procs) proc.child.kill('SIGKILL')
  void (root ? rm(root, { recursive: true, force: true }) : Promise.resolve()).finally(() => process.exit(1))
}, DEADLINE_MS)

try {
  await main()
  await stopAll()
  clearTimeout(deadline)
  say(`Demo done in ${elapsed()}; temp directories removed.`)
} catch (error) {
  clearTimeout(deadline)
  say(`\nDemo failed: ${(error as Error).message}`)
  await stopAll().catch(() => undefined)
  process.exitCode = 1
}
