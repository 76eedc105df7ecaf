/**
 * One side of a `bench:replicate` transfer, run as its own process by bench/replicate.ts so
 * sender and receiver never share a core or an event loop:
 *
 *   node bench/replicate-peer.ts pinfold-source  REPO
 *   node bench/replicate-peer.ts pinfold-fetch   JOB.json
 *   node bench/replicate-peer.ts helia-source    BLOCKSTORE_DIR
 *   node bench/replicate-peer.ts helia-fetch     JOB.json
 *
 * Sources print `{"ready": ADDRESS}` on stdout and serve until SIGTERM. Fetchers read the job
 * (`{ source, roots: string[], concurrency, repo }`), fetch and pin every root into a fresh
 * store, print `{"result": {...}}` and exit; their clocks start after setup (process start,
 * repo init, libp2p dial) and stop when the last root is pinned.
 */
import { readFile, rm } from 'node:fs/promises'
import { Agent, get } from 'node:http'
import { CID } from 'multiformats/cid'
import { blockLinks, CarBlockReader, verifyBlock } from '../src/core/index.ts'
import { initRepo, openRepo } from '../src/repo/index.ts'
import { createGatewayHandler, fetchDag, serveHandler } from '../src/transfer/index.ts'

interface Job {
  /** Gateway base URL (Pinfold) or multiaddr with /p2p/ (Helia). */
  source: string
  /** File holding the root CIDs, one per line. */
  rootsFile: string
  /** DAGs fetched at once. */
  concurrency: number
  /** Requests per DAG (Pinfold) or blocks in flight per DAG walk (Helia). */
  perDag: number
  /** Fresh receiving store directory. */
  store: string
}

const [role, arg] = process.argv.slice(2)
if (role === undefined || arg === undefined) throw new Error('usage: replicate-peer.ts ROLE ARG')

const say = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`)
const stopped = () =>
  new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve())
    process.once('SIGINT', () => resolve())
  })

async function readJob(): Promise<Job & { roots: CID[] }> {
  const job = JSON.parse(await readFile(arg as string, 'utf8')) as Job
  const text = await readFile(job.rootsFile, 'utf8')
  const roots = text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => CID.parse(line))
  return { ...job, roots }
}

/** Runs `fn` over `items`, `limit` at a time; rejects on the first failure. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++] as T
      await fn(item)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
}

/** A block as one Uint8Array (Helia's blockstore streams block bytes). */
async function collect(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  let size = 0
  for await (const chunk of chunks) {
    parts.push(chunk)
    size += chunk.byteLength
  }
  if (parts.length === 1) return parts[0] as Uint8Array
  const out = new Uint8Array(size)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.byteLength
  }
  return out
}

function cpuSeconds(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

async function pinfoldSource(): Promise<void> {
  const repo = await openRepo(arg as string)
  const server = await serveHandler(createGatewayHandler({ source: repo.blocks }))
  say({ ready: server.url })
  await stopped()
  await server.close()
  await repo.close()
}

async function pinfoldFetch(): Promise<void> {
  const job = await readJob()
  await rm(job.store, { recursive: true, force: true })
  await initRepo(job.store)
  const repo = await openRepo(job.store)
  const sources = [{ url: job.source }]
  let bytes = 0
  let blocks = 0
  const cpuBefore = cpuSeconds()
  const started = performance.now()
  // as the node's executor + repo worker do it: one runAdd per DAG, fetch, then pin
  await eachLimited(job.roots, job.concurrency, async (root) => {
    await repo.runAdd(async () => {
      const result = await fetchDag(root, repo.blocks, { sources, parallelism: job.perDag })
      await repo.pins.add(root, { recursive: true })
      bytes += result.fetchedBytes
      blocks += result.fetchedBlocks
    })
  })
  const ms = performance.now() - started
  const cpu = cpuSeconds() - cpuBefore
  const pins = (await repo.stat()).pins
  await repo.close()
  say({ result: { ms, bytes, blocks, dags: job.roots.length, pins, cpuSeconds: cpu } })
}

/**
 * Where a Pinfold receiver's time goes: the job's DAGs (`concurrency` at a time) fetched
 * (0) with node:http and discarded (what the sender can do), (1) with `fetch()` and discarded, (2) parsed block by block with `CarBlockReader`, (3) parsed and
 * every block SHA-256-verified, (4) through `fetchDag` into an in-memory store (no disk),
 * (5) through `fetchDag` into a fresh repo, one `runAdd` per DAG, then (6) `pins.add` of each.
 * Reports each stage's wall time and CPU seconds.
 */
async function pinfoldBreakdown(): Promise<void> {
  const job = await readJob()
  const stages: Array<{ stage: string; ms: number; cpuSeconds: number }> = []
  const stage = async (name: string, fn: (root: CID) => Promise<void>) => {
    const cpu = cpuSeconds()
    const started = performance.now()
    await eachLimited(job.roots, job.concurrency, fn)
    stages.push({ stage: name, ms: performance.now() - started, cpuSeconds: cpuSeconds() - cpu })
  }
  const body = async (root: CID) => {
    const response = await fetch(`${job.source}/ipfs/${root}?format=car&dag-scope=all`, {
      headers: { accept: 'application/vnd.ipld.car' },
    })
    if (response.body === null) throw new Error('no body')
    return response.body
  }
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency })
  const limits = { maxBlockBytes: 2 * 1024 * 1024, maxHeaderBytes: 65536 }
  const sources = [{ url: job.source }]
  await stage('sender alone (node:http client, body discarded)', async (root) => {
    await new Promise<void>((resolve, reject) => {
      const request = get(`${job.source}/ipfs/${root}?format=car&dag-scope=all`, { agent }, (response) => {
        response.on('data', () => {})
        response.on('end', resolve)
        response.on('error', reject)
      })
      request.on('error', reject)
    })
  })
  await stage('HTTP only (fetch(), body discarded)', async (root) => {
    for await (const _ of await body(root)) {
      // reading is the point
    }
  })
  await stage('+ CAR parsing (CarBlockReader)', async (root) => {
    const reader = new CarBlockReader(await body(root), limits)
    await reader.readHeader()
    while ((await reader.next()) !== undefined) {
      // parsing is the point
    }
  })
  await stage('+ SHA-256 verify of every block', async (root) => {
    const reader = new CarBlockReader(await body(root), limits)
    await reader.readHeader()
    for (let block = await reader.next(); block !== undefined; block = await reader.next()) {
      await verifyBlock(block.cid, block.bytes)
    }
  })
  const blocks = new Map<string, Uint8Array>()
  const memory = {
    has: async (cid: CID) => blocks.has(cid.toString()),
    get: async (cid: CID) => blocks.get(cid.toString()) as Uint8Array,
    put: async (cid: CID, bytes: Uint8Array) => {
      blocks.set(cid.toString(), bytes)
    },
    flush: async () => {},
  }
  await stage('fetchDag into memory (no disk)', async (root) => {
    await fetchDag(root, memory, { sources, parallelism: job.perDag })
  })
  blocks.clear()
  await rm(job.store, { recursive: true, force: true })
  await initRepo(job.store)
  const repo = await openRepo(job.store)
  await stage('fetchDag into a fresh repo (durable writes)', async (root) => {
    await repo.runAdd(() => fetchDag(root, repo.blocks, { sources, parallelism: job.perDag }))
  })
  await stage('pins.add (recursive) of each, blocks present', async (root) => {
    await repo.pins.add(root, { recursive: true })
  })
  await repo.close()
  agent.destroy()
  await rm(job.store, { recursive: true, force: true })
  say({ result: { stages } })
}

/**
 * Helia and libp2p are loaded only by the Helia roles: imported at the top they added ~22 MB
 * to the Pinfold peers' heaps, making each of their major GCs about three times as long.
 */
async function heliaNode(blockstoreDir: string, listen: boolean) {
  const [{ withBitswap }, { withLibp2pLight }, { identify }, { noise }, { tcp }, { yamux }, { FsBlockstore }, { MemoryDatastore }, { createHeliaLight }] =
    await Promise.all([
      import('@helia/bitswap'),
      import('@helia/libp2p'),
      import('@libp2p/identify'),
      import('@libp2p/noise'),
      import('@libp2p/tcp'),
      import('@libp2p/yamux'),
      import('blockstore-fs'),
      import('datastore-core'),
      import('helia'),
    ])
  const blockstore = new FsBlockstore(blockstoreDir)
  const helia = withBitswap(
    withLibp2pLight(createHeliaLight({ blockstore, datastore: new MemoryDatastore() }), {
      addresses: { listen: listen ? ['/ip4/127.0.0.1/tcp/0'] : [] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      // no peer discovery, no DHT, no relay, no NAT traversal: the peer is dialled by address
      peerDiscovery: [],
      services: { identify: identify() },
    }),
  )
  return helia
}

async function heliaSource(): Promise<void> {
  const helia = await heliaNode(arg as string, true)
  await helia.start()
  const address = helia.libp2p.getMultiaddrs().find((a) => a.toString().includes('/tcp/'))
  if (address === undefined) throw new Error('helia source has no TCP address')
  say({ ready: address.toString() })
  await stopped()
  await helia.stop()
}

async function heliaFetch(): Promise<void> {
  const job = await readJob()
  await rm(job.store, { recursive: true, force: true })
  const helia = await heliaNode(job.store, false)
  await helia.start()
  const { multiaddr } = await import('@multiformats/multiaddr')
  await helia.libp2p.dial(multiaddr(job.source))
  // let identify finish so bitswap knows the peer speaks it before the first want
  await new Promise((resolve) => setTimeout(resolve, 500))
  let bytes = 0
  let blocks = 0
  const cpuBefore = cpuSeconds()
  const started = performance.now()
  let pinMs = 0
  await eachLimited(job.roots, job.concurrency, async (root) => {
    // walk the DAG breadth-first, `perDag` blocks in flight, each block fetched over bitswap
    let level: CID[] = [root]
    while (level.length > 0) {
      const next: CID[] = []
      await eachLimited(level, job.perDag, async (cid) => {
        const block = await collect(helia.blockstore.get(cid))
        bytes += block.byteLength
        blocks++
        next.push(...blockLinks(cid, block))
      })
      level = next
    }
    const pinStarted = performance.now()
    // blocks are all local now: Helia's pin walks them without the network
    for await (const _ of helia.pins.add(root)) {
      // draining the generator is what pins
    }
    pinMs += performance.now() - pinStarted
  })
  const ms = performance.now() - started
  const cpu = cpuSeconds() - cpuBefore
  await helia.stop()
  say({ result: { ms, bytes, blocks, dags: job.roots.length, pinMs, cpuSeconds: cpu } })
}

const roles: Record<string, () => Promise<void>> = {
  'pinfold-source': pinfoldSource,
  'pinfold-fetch': pinfoldFetch,
  'pinfold-breakdown': pinfoldBreakdown,
  'helia-source': heliaSource,
  'helia-fetch': heliaFetch,
}
const run = roles[role]
if (run === undefined) throw new Error(`unknown role ${role}`)
await run()
process.exit(0)
