/**
 * `npm run bench:replicate`: replication over loopback, Pinfold beside Helia, in one run.
 *
 * (a) one generated file (1 GiB by default, BENCH_REPLICATE_MIB) and (b) 10,000 files of 4 KiB
 * (BENCH_REPLICATE_FILES, BENCH_REPLICATE_FILE_KIB), each its own DAG, all added with the kubo
 * profile. Every transfer runs between two processes (bench/replicate-peer.ts):
 * - Pinfold: a source serving a repo through `createGatewayHandler` + `serveHandler` (what a
 *   coordinator or node serves `/ipfs/` with), a receiver running `fetchDag` into a fresh repo
 *   and `pins.add`, one `runAdd` per DAG, as a node's repo worker does; (b) fetches
 *   BENCH_REPLICATE_CONCURRENCY DAGs at once (default 8, within the executor's 4–16).
 * - Helia: one Helia with the same blocks in blockstore-fs serving bitswap, one fetching with
 *   `helia.blockstore.get` over bitswap walking the DAG (BENCH_REPLICATE_HELIA_WALK blocks in
 *   flight per DAG), then `helia.pins.add`; libp2p TCP + noise + yamux on 127.0.0.1, the peer
 *   dialled by multiaddr, no discovery, DHT or HTTP gateways.
 * Clocks run inside the receiver from after setup to the last pin. BENCH_REPLICATE_PROFILE=1
 * writes a `--cpu-prof` of each Pinfold receiver to .bench-data/replicate/prof. Sources are
 * kept in .bench-data/replicate between runs (rebuilt when the parameters change); the
 * receivers' stores are removed after each transfer. Results go to docs/benchmarks.md.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomFillSync } from 'node:crypto'
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { unixfs } from '@helia/unixfs'
import { FsBlockstore } from 'blockstore-fs'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { importPaths } from '../src/core/index.ts'
import { initRepo, openRepo } from '../src/repo/index.ts'
import { benchInputFile, generateInput, warmPageCache } from './bench-input.ts'
import { loadAverage, machineLine, mbPerSecond, writeBenchSection } from './bench-report.ts'

const sizeMiB = Number(process.env.BENCH_REPLICATE_MIB ?? 1024)
const fileCount = Number(process.env.BENCH_REPLICATE_FILES ?? 10_000)
const fileKiB = Number(process.env.BENCH_REPLICATE_FILE_KIB ?? 4)
const concurrency = Number(process.env.BENCH_REPLICATE_CONCURRENCY ?? 8)
const perDag = 4 // fetchDag's default parallelism, as the node's repo worker uses it
const heliaWalk = Number(process.env.BENCH_REPLICATE_HELIA_WALK ?? 64)
const profile = process.env.BENCH_REPLICATE_PROFILE === '1'
const DEADLINE_MS = Number(process.env.BENCH_REPLICATE_TIMEOUT_S ?? 1200) * 1000

const workDir = join(process.cwd(), '.bench-data', 'replicate')
const bigFile = benchInputFile(sizeMiB)
const smallDir = join(workDir, `small-${fileCount}x${fileKiB}KiB`)
const sourceRepo = join(workDir, 'source-repo')
const heliaSource = join(workDir, 'helia-source')
const receiverStore = join(workDir, 'receiver')
const profDir = join(workDir, 'prof')
const peerScript = new URL('./replicate-peer.ts', import.meta.url).pathname

const KUBO = {
  profile: 'unixfs-v0-2015',
  cidVersion: 0,
  rawLeaves: false,
  chunker: fixedSize({ chunkSize: 262144 }),
  layout: balanced({ maxChildrenPerNode: 174 }),
} as const

const children = new Set<ChildProcess>()
const watchdog = setTimeout(() => {
  console.error(`bench:replicate: gave up after ${DEADLINE_MS / 1000} s`)
  for (const child of children) child.kill('SIGKILL')
  process.exit(1)
}, DEADLINE_MS)
watchdog.unref()

interface Sources {
  key: string
  bigCid: string
  smallRootsFile: string
}

async function generateSmallFiles(): Promise<void> {
  const existing = await readdir(smallDir).catch(() => [])
  if (existing.length === fileCount) return
  await rm(smallDir, { recursive: true, force: true })
  await mkdir(smallDir, { recursive: true })
  const buffer = Buffer.alloc(fileKiB * 1024)
  for (let i = 0; i < fileCount; i++) {
    await writeFile(join(smallDir, `f${String(i).padStart(6, '0')}.bin`), randomFillSync(buffer))
  }
}

/** Pinfold's source repo and Helia's source blockstore with the same blocks (same CIDs checked). */
async function prepareSources(): Promise<Sources> {
  const key = `${sizeMiB}MiB+${fileCount}x${fileKiB}KiB`
  const marker = join(workDir, 'sources.json')
  const cached = JSON.parse(await readFile(marker, 'utf8').catch(() => '{}')) as Partial<Sources>
  if (cached.key === key && (await stat(sourceRepo).catch(() => undefined)) && (await stat(heliaSource).catch(() => undefined))) {
    return cached as Sources
  }
  await generateInput(bigFile, sizeMiB)
  await generateSmallFiles()
  await rm(marker, { force: true })
  await rm(sourceRepo, { recursive: true, force: true })
  await rm(heliaSource, { recursive: true, force: true })
  console.log('preparing sources (kept for later runs)…')

  await initRepo(sourceRepo)
  const repo = await openRepo(sourceRepo)
  let bigCid = ''
  const smallCids: string[] = []
  try {
    await repo.runAdd(async () => {
      for await (const entry of importPaths([bigFile], repo.blocks, { profile: 'kubo' })) {
        await repo.pins.add(entry.cid, { recursive: true })
        bigCid = entry.cid.toString()
      }
      for await (const entry of importPaths([smallDir], repo.blocks, { profile: 'kubo' })) {
        if (entry.type !== 'file') continue
        await repo.pins.add(entry.cid, { recursive: true })
        smallCids.push(entry.cid.toString())
      }
    })
  } finally {
    await repo.close()
  }
  if (smallCids.length !== fileCount) throw new Error(`imported ${smallCids.length} of ${fileCount} small files`)

  const blockstore = new FsBlockstore(heliaSource)
  await blockstore.open()
  try {
    const fs = unixfs({ blockstore })
    const { createReadStream } = await import('node:fs')
    const heliaBig = await fs.addByteStream(createReadStream(bigFile, { highWaterMark: 2 ** 20 }), KUBO)
    if (heliaBig.toString() !== bigCid) throw new Error(`big file CIDs differ: pinfold ${bigCid}, helia ${heliaBig}`)
    const names = (await readdir(smallDir)).sort()
    for (let i = 0; i < names.length; i++) {
      const cid = await fs.addBytes(await readFile(join(smallDir, names[i] as string)), KUBO)
      if (cid.toString() !== smallCids[i]) throw new Error(`small file ${names[i]}: pinfold ${smallCids[i]}, helia ${cid}`)
    }
  } finally {
    await blockstore.close()
  }
  const smallRootsFile = join(workDir, 'small-roots.txt')
  await writeFile(smallRootsFile, `${smallCids.join('\n')}\n`)
  const sources: Sources = { key, bigCid, smallRootsFile }
  await writeFile(marker, JSON.stringify(sources))
  return sources
}

function spawnPeer(role: string, arg: string, extraArgs: string[] = []) {
  const child = spawn(process.execPath, [...extraArgs, peerScript, role, arg], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let output = ''
  let errors = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    errors += chunk.toString()
  })
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child)
      resolve(code)
    }),
  )
  /** The first stdout JSON line holding `field`. */
  const message = <T>(field: string) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        for (const line of output.split('\n')) {
          if (!line.startsWith('{')) continue
          const parsed = JSON.parse(line) as Record<string, unknown>
          if (field in parsed) {
            child.stdout?.off('data', check)
            resolve(parsed[field] as T)
            return
          }
        }
      }
      child.stdout?.on('data', check)
      void exited.then((code) => {
        check()
        reject(new Error(`${role} exited with ${code} before "${field}":\n${output}\n${errors}`))
      })
      check()
    })
  return {
    message,
    /** Waits for a process that exits by itself (a receiver writing its CPU profile). */
    async done(timeoutMs = 30_000) {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      await exited
      clearTimeout(timer)
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

interface FetchResult {
  ms: number
  bytes: number
  blocks: number
  dags: number
  cpuSeconds: number
  pinMs?: number
  pins?: number
}

interface Stage {
  stage: string
  ms: number
  cpuSeconds: number
}

async function transfer(
  kind: 'pinfold' | 'helia',
  label: string,
  rootsFile: string,
  dagsAtOnce: number,
  receiverRole = `${kind}-fetch`,
): Promise<FetchResult> {
  const source = spawnPeer(`${kind}-source`, kind === 'pinfold' ? sourceRepo : heliaSource)
  try {
    const address = await source.message<string>('ready')
    const jobFile = join(workDir, 'job.json')
    await writeFile(
      jobFile,
      JSON.stringify({
        source: address,
        rootsFile,
        concurrency: dagsAtOnce,
        perDag: kind === 'pinfold' ? perDag : heliaWalk,
        store: receiverStore,
      }),
    )
    const extra = profile && kind === 'pinfold' ? ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-name', `${label}.cpuprofile`] : []
    const receiver = spawnPeer(receiverRole, jobFile, extra)
    const result = await receiver.message<FetchResult>('result')
    await receiver.done()
    return result
  } finally {
    await source.stop()
    await rm(receiverStore, { recursive: true, force: true })
  }
}

await mkdir(workDir, { recursive: true })
if (profile) await mkdir(profDir, { recursive: true })
const sources = await prepareSources()
const bigRootsFile = join(workDir, 'big-root.txt')
await writeFile(bigRootsFile, `${sources.bigCid}\n`)
// the sources' files were just written or are re-read here, so both sides read from memory
await warmPageCache(bigFile)

const loadStart = loadAverage()
const started = new Date()
const bytes = sizeMiB * 2 ** 20
const big = {
  pinfold: await transfer('pinfold', 'big', bigRootsFile, 1),
  helia: await transfer('helia', 'big', bigRootsFile, 1),
}
const small = {
  pinfold: await transfer('pinfold', 'small', sources.smallRootsFile, concurrency),
  helia: await transfer('helia', 'small', sources.smallRootsFile, concurrency),
}
// where the Pinfold receiver's time goes, stage by stage (bench/replicate-peer.ts pinfold-breakdown)
const breakdownFiles = Math.min(fileCount, Number(process.env.BENCH_REPLICATE_BREAKDOWN_FILES ?? 2000))
const someRootsFile = join(workDir, 'small-roots-subset.txt')
await writeFile(
  someRootsFile,
  `${(await readFile(sources.smallRootsFile, 'utf8')).split('\n').slice(0, breakdownFiles).join('\n')}\n`,
)
const stagesOf = async (rootsFile: string, dagsAtOnce: number) =>
  ((await transfer('pinfold', 'breakdown', rootsFile, dagsAtOnce, 'pinfold-breakdown')) as unknown as { stages: Stage[] }).stages
const bigStages = await stagesOf(bigRootsFile, 1)
const smallStages = await stagesOf(someRootsFile, concurrency)
const loadEnd = loadAverage()

for (const r of [big.pinfold, big.helia]) if (r.bytes < bytes) throw new Error(`fetched ${r.bytes} bytes of ${bytes}`)
for (const r of [small.pinfold, small.helia]) if (r.dags !== fileCount) throw new Error(`fetched ${r.dags} of ${fileCount} DAGs`)

const mbps = (r: FetchResult) => mbPerSecond(bytes, r.ms)
const fps = (r: FetchResult) => fileCount / (r.ms / 1000)
const cpuShare = (r: FetchResult) => `${((r.cpuSeconds / (r.ms / 1000)) * 100).toFixed(0)}%`
console.log(`(a) ${sizeMiB} MiB: Pinfold ${mbps(big.pinfold).toFixed(1)} MB/s, Helia ${mbps(big.helia).toFixed(1)} MB/s (target ≥ 300)`)
console.log(`(b) ${fileCount} × ${fileKiB} KiB: Pinfold ${fps(small.pinfold).toFixed(0)} files/s, Helia ${fps(small.helia).toFixed(0)} files/s (target ≥ 2,000)`)

const stageRows = bigStages.map((big, i) => {
  const small = smallStages[i] as Stage
  const cpu = (st: Stage) => `${((st.cpuSeconds / (st.ms / 1000)) * 100).toFixed(0)}%`
  return `| ${big.stage} | ${mbPerSecond(bytes, big.ms).toFixed(1)} MB/s | ${cpu(big)} | ${(breakdownFiles / (small.ms / 1000)).toFixed(0)} files/s | ${cpu(small)} |`
})
for (const row of stageRows) console.log(row)

const verdict = (ok: boolean) => (ok ? 'met' : 'missed')
await writeBenchSection(
  'replicate',
  `## bench:replicate — replication over loopback, Pinfold beside Helia

Measured ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machineLine()}; load average (1/5/15 min)
${loadStart} at start, ${loadEnd} at end. Sender and receiver are separate processes on 127.0.0.1, the
sender's blocks in the page cache, the receiver writing a fresh store on the same disk. Clocks run in
the receiver, from after its setup (store created, Helia dialled) until the last DAG is pinned.

- **Pinfold**: \`serveHandler(createGatewayHandler({ source: repo.blocks }))\` over a repo filled by
  \`importPaths\` (kubo profile) → \`fetchDag\` (CAR, \`dag-scope=all\`, every block verified,
  parallelism ${perDag}) into a fresh repo + \`pins.add\`, one \`runAdd\` per DAG, as a node's repo worker.
- **Helia 7**: blockstore-fs with the same blocks (imported by \`@helia/unixfs\` with the kubo
  parameters, same CIDs checked) serving bitswap → a second Helia (blockstore-fs) walking each DAG with
  \`helia.blockstore.get\` over bitswap, ${heliaWalk} blocks in flight per DAG, then \`helia.pins.add\`
  (in-memory datastore); libp2p TCP + noise + yamux, dialled by multiaddr, no discovery/DHT/HTTP.

| transfer | Pinfold | Helia (bitswap) | Pinfold / Helia | target |
|---|---:|---:|---:|---|
| (a) one ${sizeMiB} MiB file | **${mbps(big.pinfold).toFixed(1)} MB/s** | ${mbps(big.helia).toFixed(1)} MB/s | ${(mbps(big.pinfold) / mbps(big.helia)).toFixed(1)}× | ≥ 300 MB/s — ${verdict(mbps(big.pinfold) >= 300)} |
| (b) ${fileCount.toLocaleString('en')} files of ${fileKiB} KiB, ${concurrency} DAGs at once | **${fps(small.pinfold).toFixed(0)} files/s** | ${fps(small.helia).toFixed(0)} files/s | ${(fps(small.pinfold) / fps(small.helia)).toFixed(1)}× | ≥ 2,000 files/s — ${verdict(fps(small.pinfold) >= 2000)} |

Receiver CPU (user + system over wall time; 100% = one core): (a) Pinfold ${cpuShare(big.pinfold)}, Helia ${cpuShare(big.helia)};
(b) Pinfold ${cpuShare(small.pinfold)}, Helia ${cpuShare(small.helia)}. Wall times: (a) ${(big.pinfold.ms / 1000).toFixed(2)} s vs
${(big.helia.ms / 1000).toFixed(2)} s, (b) ${(small.pinfold.ms / 1000).toFixed(2)} s vs ${(small.helia.ms / 1000).toFixed(2)} s.

### Where the Pinfold receiver's time goes

The same transfers again, stage by stage (\`bench/replicate-peer.ts pinfold-breakdown\`; each row is a separate
pass over the DAGs, cumulative: a row includes the work of the rows above it unless it says otherwise). (a) is
the ${sizeMiB} MiB DAG, (b) the first ${breakdownFiles.toLocaleString('en')} small files, ${concurrency} at a time. CPU is the receiver's
(user + system over wall time; 100% = one core; the sender runs in its own process).

| stage | (a) rate | (a) CPU | (b) rate | (b) CPU |
|---|---:|---:|---:|---:|
${stageRows.join('\n')}

What limits it (from these rows and \`--cpu-prof\` of both sides, BENCH_REPLICATE_PROFILE=1; the machine has
only ${cpus().length} cores, shared by sender, receiver and whatever else runs):

- **Since 2026-11-22 04:10** (this section's earlier run: (a) 85.5 MB/s, (b) 557 files/s): the gateway sends each
  block uncopied (section header and bytes as two chunks) straight from the CAR generator to node:http (no WHATWG
  stream), reads packs through kept-open handles and reads a CAR's terminal block once; \`fetchDag\` reads over
  node:http with keep-alive (no \`fetch()\`), taking body chunks as they come off the socket; the repo group-commits
  concurrent flushes (one pack fsync + one SQLite transaction) and concurrent pins (one transaction), and
  coalesces pack writes into \`writev\`s; the Pinfold peers no longer load Helia (22 MB of heap that made every
  major GC three times as long).
- **(a)** The rows above say where: into memory the receiver keeps up with the sender (≈ 290 MB/s), into a repo
  it drops to ≈ 115 MB/s. \`fetchDag\` waits for each block's pack write before reading the next, and every 8 MiB
  checkpoint waits for an fdatasync + rename + dir fsync + SQLite commit before reading on. Next: a bounded window
  of puts in flight and a checkpoint that runs while the transfer continues (awaited only by the next one). Past
  that, the receiver needs ≈ 7 CPU-seconds per GiB (SHA-256 ≈ 0.7 s; HTTP parsing, one copy per block spanning
  socket chunks, major GCs from the ~2 GiB of short-lived ArrayBuffers per GiB received) on 2 shared cores.
- **(b)** Per DAG: one HTTP request, one pack write, a share of one group commit (fdatasync + rename + dir fsync +
  SQLite, ≈ 4 ms a group, ≈ 7 DAGs a group at 8 at once) and a share of one pin transaction. With 8 DAGs at once
  the lanes wait on those commits; node:sqlite commits block the event loop. Next: let the executor fetch more DAGs
  while earlier ones commit (pins are durable per group anyway), and fold the pin rows into the block commit.`,
)

await rm(join(workDir, 'job.json'), { force: true })
console.log(`sources kept in ${workDir} (delete it to reclaim ${(2 * sizeMiB) / 1024} GiB+)`)
process.exit(0)
