/**
 * `npm run bench:read`: what verifying every block on read costs. A generated file (256 MiB by
 * default, BENCH_READ_MIB to change) is added once (kubo profile); then `cat` straight from the
 * repo and a download through the gateway on 127.0.0.1 are timed with read verification on
 * (as Pinfold always serves) and off (a benchmark-only repo option), beside plain single-core
 * SHA-256 of the same bytes. Best of BENCH_READ_RUNS (3) per row. Results go to docs/benchmarks.md.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cat } from '../src/core/index.ts'
import { openRepo } from '../src/repo/index.ts'
import { createGatewayHandler, serveHandler } from '../src/transfer/index.ts'
import { benchInputFile, generateInput } from './bench-input.ts'
import { loadAverage, machineLine, mbPerSecond, timed, writeBenchSection } from './bench-report.ts'
import { addFileToFreshRepo } from './fresh-repo-add.ts'

const sizeMiB = Number(process.env.BENCH_READ_MIB ?? 256)
const runs = Number(process.env.BENCH_READ_RUNS ?? 3)
const bytes = sizeMiB * 2 ** 20
const inputFile = benchInputFile(sizeMiB)
const repoDir = join(process.cwd(), '.bench-data', 'read', 'repo')

/** Reads a whole stream of pieces and returns how many bytes it held. */
async function drain(pieces: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0
  for await (const piece of pieces) n += piece.byteLength
  if (n !== bytes) throw new Error(`read ${n} bytes, expected ${bytes}`)
  return n
}

async function sha256(): Promise<number> {
  const data = await readFile(inputFile)
  const chunk = 256 * 1024
  const { ms } = await timed(async () => {
    // per 256 KiB block, as a read verifies
    for (let off = 0; off < data.byteLength; off += chunk) createHash('sha256').update(data.subarray(off, off + chunk)).digest()
  })
  return ms
}

/** One timed `cat` and one gateway download of `root` from the repo opened with `verifyReads`. */
async function measure(root: string, verifyReads: boolean): Promise<{ cat: number; gateway: number }> {
  const repo = await openRepo(repoDir, { verifyReads })
  const served = await serveHandler(createGatewayHandler({ source: repo.blocks }), { host: '127.0.0.1', port: 0 })
  try {
    const catRun = await timed(() => drain(cat(repo.blocks, root)))
    const gatewayRun = await timed(async () => {
      const res = await fetch(`${served.url}/ipfs/${root}`)
      if (res.status !== 200 || res.body === null) throw new Error(`gateway answered ${res.status}`)
      return drain(res.body)
    })
    return { cat: catRun.ms, gateway: gatewayRun.ms }
  } finally {
    await served.close({ drainMs: 0 })
    await repo.close()
  }
}

/** Best of `runs`, verified and unverified runs alternating so load changes hit both alike. */
async function bestOf(root: string): Promise<{ on: { cat: number; gateway: number }; off: { cat: number; gateway: number } }> {
  const on = { cat: Number.POSITIVE_INFINITY, gateway: Number.POSITIVE_INFINITY }
  const off = { ...on }
  const keepBest = (into: typeof on, run: typeof on) => {
    into.cat = Math.min(into.cat, run.cat)
    into.gateway = Math.min(into.gateway, run.gateway)
  }
  for (let i = 0; i < runs; i++) {
    keepBest(on, await measure(root, true))
    keepBest(off, await measure(root, false))
  }
  return { on, off }
}

await generateInput(inputFile, sizeMiB)
const root = await addFileToFreshRepo(inputFile, repoDir)
await measure(root, true) // warm the page cache and the JIT
const loadBefore = loadAverage()
const { on, off } = await bestOf(root)
const shaMs = Math.min(await sha256(), await sha256())
const loadAfter = loadAverage()
const rate = (ms: number) => mbPerSecond(bytes, ms)
const cost = (verified: number, unverified: number) => `${((verified / unverified - 1) * 100).toFixed(0)} %`
const table = [
  ['plain SHA-256, 256 KiB pieces (1 core)', `${rate(shaMs).toFixed(0)}`, '', ''],
  ['cat from the repo', `${rate(on.cat).toFixed(0)}`, `${rate(off.cat).toFixed(0)}`, cost(on.cat, off.cat)],
  ['gateway download (127.0.0.1)', `${rate(on.gateway).toFixed(0)}`, `${rate(off.gateway).toFixed(0)}`, cost(on.gateway, off.gateway)],
]
for (const row of table) console.log(`${(row[0] as string).padEnd(42)} ${row.slice(1).map((c) => c.padStart(8)).join(' ')}`)

await writeBenchSection(
  'read',
  `## bench:read — verified reads, ${sizeMiB} MiB file, kubo profile

Measured ${new Date().toISOString().slice(0, 10)} on ${machineLine()}; load average (1 / 5 / 15
min) ${loadBefore} at the start and ${loadAfter} at the end (other work shared the machine). Every
block Pinfold serves is hashed against its CID as it is read; the unverified column is a
benchmark-only repo option that skips that check. Best of ${runs} runs each, verified and
unverified alternating; repo files in the page cache.

| | verified MB/s | unverified MB/s | cost of verifying (time) |
|---|---:|---:|---:|
${table.map((row) => `| ${row.join(' | ')} |`).join('\n')}
`,
)
