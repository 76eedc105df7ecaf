/**
 * `npm run bench:add`: add a generated file (1 GiB by default, BENCH_ADD_MIB to change) with
 * the `kubo` profile into a fresh repo on disk, beside (a) the same add through Helia
 * (@helia/unixfs + blockstore-fs, same profile, same root CID) and (b) plain single-core
 * SHA-256 of the file, in the same run. Results go to docs/benchmarks.md.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { unixfs } from '@helia/unixfs'
import { FsBlockstore } from 'blockstore-fs'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { benchInputFile, generateInput } from './bench-input.ts'
import { addFileToFreshRepo } from './fresh-repo-add.ts'
import { machineLine, mbPerSecond, timed, writeBenchSection } from './bench-report.ts'

const sizeMiB = Number(process.env.BENCH_ADD_MIB ?? 1024)
const workDir = join(process.cwd(), '.bench-data', 'add')
const inputFile = benchInputFile(sizeMiB)

async function sha256File(): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(inputFile, { highWaterMark: 2 ** 20 })) hash.update(chunk)
  return hash.digest('hex')
}

function pinfoldAdd(): Promise<string> {
  return addFileToFreshRepo(inputFile, join(workDir, 'pinfold-repo'))
}

async function heliaAdd(): Promise<string> {
  const dir = join(workDir, 'helia-blocks')
  await rm(dir, { recursive: true, force: true })
  const blockstore = new FsBlockstore(dir)
  await blockstore.open()
  try {
    const fs = unixfs({ blockstore })
    const cid = await fs.addByteStream(createReadStream(inputFile, { highWaterMark: 2 ** 20 }), {
      // @helia/unixfs's own defaults (CIDv1, 1 MiB, 1024 links) override a profile, so spell out kubo's
      profile: 'unixfs-v0-2015',
      cidVersion: 0,
      rawLeaves: false,
      chunker: fixedSize({ chunkSize: 262144 }),
      layout: balanced({ maxChildrenPerNode: 174 }),
    })
    return cid.toString()
  } finally {
    await blockstore.close()
  }
}

await generateInput(inputFile, sizeMiB)
const bytes = sizeMiB * 2 ** 20
// warm the page cache so every contender reads the input from memory
await sha256File()
const sha = await timed(sha256File)
const pinfold = await timed(pinfoldAdd)
const helia = await timed(heliaAdd)
if (pinfold.value !== helia.value) throw new Error(`root CIDs differ: pinfold ${pinfold.value}, helia ${helia.value}`)

const rows = [
  ['plain SHA-256 (1 core)', sha.ms],
  ['Pinfold add (kubo profile, durable)', pinfold.ms],
  ['Helia add (@helia/unixfs + blockstore-fs)', helia.ms],
] as const
const rate = (ms: number) => mbPerSecond(bytes, ms)
for (const [name, ms] of rows) console.log(`${name.padEnd(44)} ${rate(ms).toFixed(1).padStart(8)} MB/s`)
const vsHelia = rate(pinfold.ms) / rate(helia.ms)
const vsSha = rate(pinfold.ms) / rate(sha.ms)
console.log(`Pinfold / Helia: ${vsHelia.toFixed(2)}× (target ≥ 3×)`)
console.log(`Pinfold / SHA-256: ${(vsSha * 100).toFixed(0)}% (target ≥ 50%)`)
console.log(`root CID ${pinfold.value}`)

await writeBenchSection(
  'add',
  `## bench:add — ${sizeMiB} MiB file, kubo profile

Measured ${new Date().toISOString().slice(0, 10)} on ${machineLine()}. Input read from the page cache; each add
writes into a fresh store on the same disk. Root CID (identical for both adders): \`${pinfold.value}\`.

| contender | MB/s |
|---|---:|
${rows.map(([name, ms]) => `| ${name} | ${rate(ms).toFixed(1)} |`).join('\n')}

Pinfold / Helia: **${vsHelia.toFixed(2)}×** (target ≥ 3×). Pinfold / single-core SHA-256: **${(vsSha * 100).toFixed(0)}%** (target ≥ 50%).`,
)
await rm(join(workDir, 'pinfold-repo'), { recursive: true, force: true })
await rm(join(workDir, 'helia-blocks'), { recursive: true, force: true })
