/**
 * `npm run bench:interop`: IPFS-tool interop speed against a real `pinfold serve` process on
 * 127.0.0.1 (fresh data dir on the same disk), for a generated file (256 MiB by default,
 * BENCH_INTEROP_MIB to change):
 * - `kubo-rpc-client` `add` (Kubo defaults: CIDv0, 256 KiB chunks — the kubo profile) timed
 *   until its final answer, then `cat` of the root back (bytes counted and SHA-256 checked);
 * - a trustless CAR fetch of the same DAG (`GET /ipfs/{cid}?format=car`, streamed through
 *   core's CarBlockReader, every block checked with verifyBlock);
 * - beside the REST upload path (`POST /api/v1/uploads`, multipart streamed from disk, kubo
 *   profile) to a second fresh server, so neither add finds the other's blocks.
 * Root CIDs must match. Results go to docs/benchmarks.md (section `interop`).
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { create } from 'kubo-rpc-client'
import { CarBlockReader, verifyBlock } from '../src/core/index.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../test/helpers/coordinator-process.ts'
import { benchInputFile, generateInput, warmPageCache } from './bench-input.ts'
import { uploadFileOverHttp } from './rest-upload.ts'
import { loadAverage, machineLine, mbPerSecond, timed, writeBenchSection } from './bench-report.ts'

const sizeMiB = Number(process.env.BENCH_INTEROP_MIB ?? 256)
const bytes = sizeMiB * 2 ** 20
const workDir = join(process.cwd(), '.bench-data', 'interop')
const inputFile = benchInputFile(sizeMiB)
const DEADLINE_MS = Number(process.env.BENCH_INTEROP_TIMEOUT_S ?? 600) * 1000

async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file, { highWaterMark: 2 ** 20 })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

function restUpload(coordinator: CoordinatorProcess): Promise<string> {
  return uploadFileOverHttp(coordinator, { path: inputFile, size: bytes, name: 'interop.bin' }, { timeoutMs: DEADLINE_MS })
}

/** Streams the CAR through the reader, verifying every block; returns blocks, block bytes and wire bytes. */
async function carFetch(url: string, token: string, root: string): Promise<{ blocks: number; blockBytes: number; wireBytes: number }> {
  const response = await fetch(`${url}/ipfs/${root}?format=car`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(DEADLINE_MS),
  })
  if (response.status !== 200 || response.body === null) throw new Error(`CAR fetch answered ${response.status}: ${await response.text()}`)
  let wireBytes = 0
  const body = response.body
  const counted = (async function* () {
    for await (const chunk of body) {
      wireBytes += chunk.byteLength
      yield chunk
    }
  })()
  const reader = new CarBlockReader(counted)
  const roots = await reader.readHeader()
  if (roots[0]?.toString() !== root) throw new Error(`CAR root ${roots[0]} is not ${root}`)
  let blocks = 0
  let blockBytes = 0
  for (let block = await reader.next(); block !== undefined; block = await reader.next()) {
    await verifyBlock(block.cid, block.bytes)
    blocks++
    blockBytes += block.bytes.byteLength
  }
  return { blocks, blockBytes, wireBytes }
}

const watchdog = setTimeout(() => {
  console.error(`bench:interop: gave up after ${DEADLINE_MS / 1000} s`)
  process.exit(1)
}, DEADLINE_MS + 60_000)
watchdog.unref()

const loadStart = loadAverage()
await generateInput(inputFile, sizeMiB)
const inputSha = await fileSha256(inputFile)
await rm(workDir, { recursive: true, force: true })

// 1. the REST upload path, on its own fresh server
let upload: { value: string; ms: number }
{
  const coordinator = await startCoordinatorProcess({ dataDir: join(workDir, 'rest') })
  try {
    await warmPageCache(inputFile)
    upload = await timed(() => restUpload(coordinator))
  } finally {
    await coordinator.stop()
    await rm(join(workDir, 'rest'), { recursive: true, force: true })
  }
}

// 2. Kubo RPC add and cat, then the trustless CAR fetch, on a second fresh server
let add: { value: string; ms: number }
let cat: { value: { length: number; sha: string }; ms: number }
let car: { value: { blocks: number; blockBytes: number; wireBytes: number }; ms: number }
{
  const coordinator = await startCoordinatorProcess({ dataDir: join(workDir, 'rpc') })
  try {
    const token = await coordinator.token()
    const ipfs = create({ url: `${coordinator.url}/api/v0`, headers: { authorization: `Bearer ${token}` }, timeout: DEADLINE_MS })
    await warmPageCache(inputFile)
    add = await timed(async () => {
      const result = await ipfs.add(createReadStream(inputFile, { highWaterMark: 2 ** 20 }))
      return result.cid.toString()
    })
    cat = await timed(async () => {
      const hash = createHash('sha256')
      let length = 0
      for await (const chunk of ipfs.cat(add.value)) {
        length += chunk.byteLength
        hash.update(chunk)
      }
      return { length, sha: hash.digest('hex') }
    })
    car = await timed(() => carFetch(coordinator.url, token, add.value))
  } finally {
    await coordinator.stop()
    await rm(workDir, { recursive: true, force: true })
  }
}
const loadEnd = loadAverage()

if (add.value !== upload.value) throw new Error(`root CIDs differ: kubo-rpc add ${add.value}, REST upload ${upload.value}`)
if (cat.value.length !== bytes || cat.value.sha !== inputSha) throw new Error(`cat returned ${cat.value.length} bytes, sha256 ${cat.value.sha}`)
if (car.value.blockBytes < bytes) throw new Error(`the CAR carried only ${car.value.blockBytes} block bytes`)

const rows = [
  ['`kubo-rpc-client` `add` (`/api/v0/add`)', add.ms, mbPerSecond(bytes, add.ms)],
  ['`kubo-rpc-client` `cat` (`/api/v0/cat`, SHA-256 checked)', cat.ms, mbPerSecond(bytes, cat.ms)],
  ['trustless CAR fetch (`/ipfs/{cid}?format=car`, every block verified)', car.ms, mbPerSecond(bytes, car.ms)],
  ['REST upload (`POST /api/v1/uploads`, multipart)', upload.ms, mbPerSecond(bytes, upload.ms)],
] as const
for (const [name, ms, rate] of rows) console.log(`${name.replace(/`/g, '').padEnd(72)} ${rate.toFixed(1).padStart(8)} MB/s  ${(ms / 1000).toFixed(1)} s`)
console.log(`root CID ${add.value}; CAR: ${car.value.blocks} blocks, ${car.value.wireBytes} bytes on the wire`)
console.log(`load average (1/5/15 min) ${loadStart} at start, ${loadEnd} at end`)

await writeBenchSection(
  'interop',
  `## bench:interop — ${sizeMiB} MiB through IPFS clients vs the REST upload — \`npm run bench:interop\`

Measured ${new Date().toISOString().slice(0, 10)} on ${machineLine()}. Load average (1/5/15 min):
${loadStart} at start, ${loadEnd} at end (other work may share the machine).

Each contender talks to a real \`pinfold serve\` process on 127.0.0.1 with a fresh data dir on
the same disk, reading a generated random file from the page cache. \`add\` is
\`kubo-rpc-client\` with Kubo's defaults (CIDv0, 256 KiB chunks), timed until its final answer
(blocks, pin and entry durable); \`cat\` streams the root back and hashes it; the CAR fetch is
the trustless gateway (\`?format=car\`, DFS) read with core's \`CarBlockReader\` and every block
checked with \`verifyBlock\` (${car.value.blocks} blocks, ${(car.value.wireBytes / 2 ** 20).toFixed(1)} MiB on the wire). The
REST upload (kubo profile) goes to a second fresh server, so neither import finds the other's
blocks. MB/s are of the file's ${sizeMiB} MiB. Root CID (identical for add and upload): \`${add.value}\`.

| path | s | MB/s |
|---|---:|---:|
${rows.map(([name, ms, rate]) => `| ${name} | ${(ms / 1000).toFixed(1)} | ${rate.toFixed(1)} |`).join('\n')}
`,
)
process.exit(0)
