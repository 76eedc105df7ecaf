import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import {
  type AbortOptions,
  type BlockSource,
  cat,
  importBytes,
  importEntries,
  MemoryBlockstore,
  verifyBlock,
  walkDag,
} from '../../src/core/index.ts'
import { initRepo, openRepo, type Repo } from '../../src/repo/index.ts'
import { encodeCar } from '../../src/core/index.ts'
import { createGatewayHandler, type GatewayHandler, serveHandler } from '../../src/transfer/index.ts'

const cleanups: Array<() => Promise<void>> = []
after(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {})
})

/** Deterministic pseudo-random bytes (xorshift32). */
export function pseudoRandom(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

export interface Dag {
  cid: CID
  blocks: { cid: CID; bytes: Uint8Array }[]
  bytes: number
}

export async function dagOf(source: BlockSource, cid: CID): Promise<Dag> {
  const blocks: { cid: CID; bytes: Uint8Array }[] = []
  for await (const block of walkDag(source, cid)) blocks.push(block)
  return { cid, blocks, bytes: blocks.reduce((n, b) => n + b.bytes.byteLength, 0) }
}

export interface Origin {
  store: MemoryBlockstore
  /** 6 MiB, Kubo defaults: CIDv0, 256 KiB dag-pb leaves (root + 24 leaves). */
  file: Dag & { content: Uint8Array }
  /** 6 MiB, CIDv1, raw 16 KiB leaves: root → 3 inner nodes → 384 leaves. */
  deep: Dag & { content: Uint8Array }
  /** A directory with a nested directory, an empty file and a multi-block file. */
  dir: Dag & { files: Map<string, Uint8Array> }
  /** 2 MiB and 1 MiB files (raw leaves), for the bandwidth cap. */
  twoMiB: Dag
  oneMiB: Dag
}

let cached: Promise<Origin> | undefined

/** One origin store shared by the tests of a file (built once). */
export function origin(): Promise<Origin> {
  cached ??= buildOrigin()
  return cached
}

async function buildOrigin(): Promise<Origin> {
  const store = new MemoryBlockstore()
  const fileContent = pseudoRandom(6 * 1024 * 1024, 1)
  const file = await importBytes(fileContent, store)
  const deepContent = pseudoRandom(6 * 1024 * 1024, 2)
  const deep = await importBytes(deepContent, store, { profile: 'v1-2025', chunker: 'size-16384' })
  const files = new Map<string, Uint8Array>([
    ['dir/a.txt', new TextEncoder().encode('hello from a\n')],
    ['dir/sub/b.bin', pseudoRandom(700 * 1024, 3)],
    ['dir/sub/c.txt', new TextEncoder().encode('c')],
    ['dir/empty', new Uint8Array(0)],
  ])
  let dirCid: CID | undefined
  for await (const entry of importEntries(
    [...files].map(([path, content]) => ({ path, content })),
    store,
  )) {
    if (entry.path === 'dir') dirCid = entry.cid
  }
  if (dirCid === undefined) throw new Error('no dir entry')
  const two = await importBytes(pseudoRandom(2 * 1024 * 1024, 4), store, { profile: 'v1-2025' })
  const one = await importBytes(pseudoRandom(1024 * 1024, 5), store, { profile: 'v1-2025' })
  return {
    store,
    file: { ...(await dagOf(store, file.cid)), content: fileContent },
    deep: { ...(await dagOf(store, deep.cid)), content: deepContent },
    dir: { ...(await dagOf(store, dirCid)), files },
    twoMiB: await dagOf(store, two.cid),
    oneMiB: await dagOf(store, one.cid),
  }
}

export interface Served {
  url: string
  /** Request paths + queries seen, in order. */
  requests: string[]
  carRequests(): number
}

/** Serves `handler` on 127.0.0.1 (closed after the test file), recording requests. */
export async function serve(handler: GatewayHandler): Promise<Served> {
  const requests: string[] = []
  const served = await serveHandler(async (request) => {
    const url = new URL(request.url)
    requests.push(`${url.pathname}${url.search}`)
    return handler(request)
  })
  cleanups.push(() => served.close())
  return {
    url: served.url,
    requests,
    carRequests: () => requests.filter((r) => r.includes('format=car')).length,
  }
}

/** A good source: the gateway over `store`. */
export function goodSource(store: BlockSource): Promise<Served> {
  return serve(createGatewayHandler({ source: store }))
}

export type Lie = 'corrupt' | 'extra' | 'short' | 'truncate' | 'huge'

/**
 * A lying gateway: raw blocks are served honestly, CARs are built from the true DAG and
 * then falsified — `corrupt` flips a byte in the 3rd block (or the only one), `extra`
 * inserts a valid but unrelated block after the first, `short` ends cleanly one block
 * early, `truncate` ends cleanly in the middle of the body, `huge` sends a 3 MiB block
 * right after the header.
 */
export function lyingHandler(store: BlockSource, lie: Lie): GatewayHandler {
  const honest = createGatewayHandler({ source: store })
  return async (request) => {
    const url = new URL(request.url)
    if (url.searchParams.get('format') !== 'car') return honest(request)
    const cid = CID.parse(url.pathname.replace('/ipfs/', ''))
    if (!(await store.has(cid))) return new Response('not found', { status: 404 })
    let blocks = (await dagOf(store, cid)).blocks
    if (lie === 'corrupt') {
      const i = Math.min(2, blocks.length - 1)
      const victim = blocks[i] as { cid: CID; bytes: Uint8Array }
      const bytes = Uint8Array.from(victim.bytes) // a copy (`slice` of a Buffer is a view)
      const at = bytes.byteLength >> 1
      bytes[at] = (bytes[at] as number) ^ 0xff
      blocks = blocks.with(i, { cid: victim.cid, bytes })
    } else if (lie === 'extra') {
      blocks = [...blocks.slice(0, 1), await unrelatedBlock(), ...blocks.slice(1)]
    } else if (lie === 'short') {
      blocks = blocks.slice(0, -1)
    } else if (lie === 'huge') {
      const bytes = pseudoRandom(3 * 1024 * 1024, 9)
      blocks = [{ cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }, ...blocks]
    }
    let body = await collect(encodeCar(cid, iterate(blocks)))
    if (lie === 'truncate') body = body.subarray(0, body.byteLength >> 1)
    return new Response(body, {
      status: 200,
      headers: { 'Content-Type': 'application/vnd.ipld.car; version=1; order=dfs; dups=n' },
    })
  }
}

/** A valid raw block that belongs to no fixture DAG. */
export async function unrelatedBlock(): Promise<{ cid: CID; bytes: Uint8Array }> {
  const bytes = new TextEncoder().encode('nobody asked for me')
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

/** Wraps a handler so each response body errors (the connection is cut) after `limit` bytes. */
export function cutAfter(handler: GatewayHandler, limit: number): GatewayHandler {
  return async (request) => {
    const response = await handler(request)
    if (response.body === null) return response
    const reader = response.body.getReader()
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read()
        if (done) {
          controller.close()
          return
        }
        if (sent + value.byteLength > limit) {
          controller.enqueue(value.subarray(0, limit - sent))
          controller.error(new Error('connection cut by test'))
          await reader.cancel()
          return
        }
        sent += value.byteLength
        controller.enqueue(value)
      },
      cancel: () => reader.cancel(),
    })
    return new Response(body, { status: response.status, headers: response.headers })
  }
}

/**
 * A memory store that checks every `put` (bytes must hash to the CID) and remembers what
 * was put: tests assert no wrong or unrelated block was ever written.
 */
export class AuditedStore extends MemoryBlockstore {
  readonly puts: string[] = []
  readonly wrongPuts: string[] = []

  override async put(cid: CID, bytes: Uint8Array, options?: AbortOptions): Promise<void> {
    this.puts.push(cid.toString())
    try {
      await verifyBlock(cid, bytes)
    } catch {
      this.wrongPuts.push(cid.toString())
    }
    return super.put(cid, bytes, options)
  }
}

/** An initialised, opened repo in a fresh temp dir (closed and removed after the file). */
export async function freshRepo(): Promise<Repo> {
  const dir = await mkdtemp(join(tmpdir(), 'pinfold-fetch-'))
  await initRepo(dir)
  const repo = await openRepo(dir)
  cleanups.push(async () => {
    await repo.close()
    await rm(dir, { recursive: true, force: true })
  })
  return repo
}

/** Bytes of the blocks of `dag` present in `store`. */
export async function presentBytes(store: BlockSource, dag: Dag): Promise<{ blocks: number; bytes: number }> {
  let blocks = 0
  let bytes = 0
  for (const block of dag.blocks) {
    if (await store.has(block.cid)) {
      blocks++
      bytes += block.bytes.byteLength
    }
  }
  return { blocks, bytes }
}

export async function catBytes(source: BlockSource, path: string): Promise<Uint8Array> {
  return collect(cat(source, path))
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const chunk of chunks) parts.push(chunk)
  return new Uint8Array(Buffer.concat(parts))
}

async function* iterate<T>(items: T[]): AsyncGenerator<T> {
  yield* items
}
