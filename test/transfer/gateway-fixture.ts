import { CarReader } from '@ipld/car'
import type { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { type ImportCandidate, importEntries, MemoryBlockstore } from '../../src/core/index.ts'
import { createGatewayHandler, type GatewayHandler } from '../../src/transfer/index.ts'

export const SCRIPT_NAME = `<script>alert("x")<.txt`
export const BIG_SIZE = 10 * 1024
export const CHUNK = 1024
export const SHARD_FILES = 3000

/** Deterministic bytes: byte i = (i * 7 + i >> 8) & 0xff. */
export function patternBytes(size: number): Uint8Array {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = (i * 7 + (i >> 8)) & 0xff
  return out
}

export const PNG_BYTES = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 73, 72, 68, 82])

/** Long names push the directory past the importer's 256 KiB sharding threshold. */
export function shardFileName(i: number): string {
  return `file-${String(i).padStart(5, '0')}-${'x'.repeat(80)}.txt`
}

export interface GatewayFixture {
  store: MemoryBlockstore
  handler: GatewayHandler
  /** CID of each imported path (`fixture`, `fixture/hello.txt`, `shard`, …). */
  cids: Map<string, CID>
  cid(path: string): CID
  get(path: string, init?: RequestInit): Promise<Response>
}

async function* candidates(): AsyncGenerator<ImportCandidate> {
  const text = new TextEncoder()
  yield { path: 'fixture/hello.txt', content: text.encode('hello world\n') }
  yield { path: 'fixture/big.bin', content: patternBytes(BIG_SIZE) }
  yield { path: 'fixture/sub/file.txt', content: text.encode('nested file') }
  yield { path: 'fixture/site/index.html', content: text.encode('<h1>hi</h1>') }
  yield { path: 'fixture/site/style.css', content: text.encode('h1{color:red}') }
  yield { path: `fixture/${SCRIPT_NAME}`, content: text.encode('not a script') }
  yield { path: 'fixture/image.data', content: PNG_BYTES }
  yield { path: 'fixture/noext', content: text.encode('plain words') }
  yield { path: 'fixture/empty' }
  for (let i = 0; i < SHARD_FILES; i++) yield { path: `shard/${shardFileName(i)}`, content: text.encode(`file ${i}`) }
}

let cached: Promise<GatewayFixture> | undefined

/** One store shared by the gateway tests (imported once, CIDv1 raw leaves, 1 KiB chunks). */
export function gatewayFixture(): Promise<GatewayFixture> {
  cached ??= buildFixture()
  return cached
}

async function buildFixture(): Promise<GatewayFixture> {
  const store = new MemoryBlockstore()
  const cids = new Map<string, CID>()
  for await (const entry of importEntries(candidates(), store, { profile: 'v1-2025', chunker: `size-${CHUNK}` })) {
    cids.set(entry.path, entry.cid)
  }
  const handler = createGatewayHandler({ source: store })
  const cid = (path: string) => {
    const found = cids.get(path)
    if (found === undefined) throw new Error(`no fixture path ${path}`)
    return found
  }
  return {
    store,
    handler,
    cids,
    cid,
    get: (path, init) => handler(new Request(`http://127.0.0.1${path}`, init)),
  }
}

/** Parses a CAR body, checks every block against its CID, returns roots and blocks in order. */
export async function readVerifiedCar(body: Uint8Array): Promise<{ roots: CID[]; blocks: { cid: CID; bytes: Uint8Array }[] }> {
  const reader = await CarReader.fromBytes(body)
  const blocks: { cid: CID; bytes: Uint8Array }[] = []
  for await (const block of reader.blocks()) {
    const digest = await sha256.digest(block.bytes)
    if (!equalBytes(digest.bytes, block.cid.multihash.bytes)) throw new Error(`block ${block.cid} does not verify`)
    blocks.push({ cid: block.cid as CID, bytes: block.bytes })
  }
  return { roots: (await reader.getRoots()) as CID[], blocks }
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i])
}

export async function bodyBytes(response: Response): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer())
}
