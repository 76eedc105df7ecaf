import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { encodeCar } from '../../src/core/index.ts'

/**
 * Hash-valid but hostile DAGs, for tests that feed crafted blocks to every read path
 * (Kubo `block/put`, CAR import, a node's repo). Each builder returns its blocks in
 * put order (children before parents, the root last), so a caller can store them one by
 * one and pin the root. Every block decodes as its codec; the hostility is in what the
 * UnixFS layer claims.
 */
export interface HostileDag {
  root: CID
  /** Children first, the root last. */
  blocks: Array<{ cid: CID; bytes: Uint8Array }>
  /** What a correct reader must not do, for assertion messages. */
  description: string
}

/** A dag-pb block and its CIDv1. */
export async function dagPbBlock(node: dagPb.PBNode): Promise<{ cid: CID; bytes: Uint8Array }> {
  const bytes = dagPb.encode(dagPb.prepare(node))
  return { cid: CID.createV1(dagPb.code, await sha256.digest(bytes)), bytes }
}

/** A raw block and its CIDv1. */
export async function rawBlock(bytes: Uint8Array): Promise<{ cid: CID; bytes: Uint8Array }> {
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

function fileData(blockSizes: bigint[], data?: Uint8Array): Uint8Array {
  return new UnixFS({ type: 'file', blockSizes, ...(data ? { data } : {}) }).marshal()
}

/**
 * A UnixFS file whose one child is valid dag-pb but not valid UnixFS (its Data has an
 * invalid protobuf wire type). ipfs-unixfs-exporter 16 rejects it inside a queued job
 * nobody awaits: an unhandled rejection that ends a process without a handler.
 */
export async function invalidUnixfsChild(): Promise<HostileDag> {
  const child = await dagPbBlock({ Data: Uint8Array.of(0x0f, 0x0f, 0x0f), Links: [] })
  const root = await dagPbBlock({ Data: fileData([100n]), Links: [{ Hash: child.cid, Tsize: child.bytes.byteLength }] })
  return { root: root.cid, blocks: [child, root], description: 'child block with invalid UnixFS data' }
}

/**
 * A UnixFS file whose `blockSizes` claim 1,000,000 bytes of its one raw leaf, which holds 10:
 * the declared size cannot be served, so a reader must fail rather than send a short body.
 */
export async function blockSizesBeyondData(): Promise<HostileDag> {
  const leaf = await rawBlock(new TextEncoder().encode('ten bytes!'))
  const root = await dagPbBlock({ Data: fileData([1_000_000n]), Links: [{ Hash: leaf.cid, Tsize: leaf.bytes.byteLength }] })
  return { root: root.cid, blocks: [leaf, root], description: 'blockSizes larger than the data below them' }
}

/**
 * A UnixFS file `depth` levels deep: each level one link to the next, one 5-byte raw leaf
 * at the bottom. Valid, just deep: a reader must not recurse per level (or refuse cleanly).
 */
export async function deepFile(depth: number): Promise<HostileDag> {
  let below = await rawBlock(new TextEncoder().encode('deep!'))
  const blocks = [below]
  for (let i = 0; i < depth; i++) {
    below = await dagPbBlock({ Data: fileData([5n]), Links: [{ Hash: below.cid, Tsize: below.bytes.byteLength }] })
    blocks.push(below)
  }
  return { root: below.cid, blocks, description: `file ${depth} levels deep` }
}

/**
 * A UnixFS directory nested `depth` levels deep (`d/d/d/…`), a file `leaf.txt` at the bottom.
 * A reader that recurses per level (a tar export) overflows the stack.
 */
export async function deepDirectory(depth: number): Promise<HostileDag> {
  let below = await rawBlock(new TextEncoder().encode('bottom'))
  const blocks = [below]
  let name = 'leaf.txt'
  for (let i = 0; i < depth; i++) {
    below = await dagPbBlock({
      Data: new UnixFS({ type: 'directory' }).marshal(),
      Links: [{ Hash: below.cid, Name: name, Tsize: below.bytes.byteLength }],
    })
    blocks.push(below)
    name = 'd'
  }
  return { root: below.cid, blocks, description: `directory ${depth} levels deep` }
}

/** A UnixFS file whose child is a directory: a reader must refuse, not serve its bytes. */
export async function directoryAsFileChild(): Promise<HostileDag> {
  const dir = await dagPbBlock({ Data: new UnixFS({ type: 'directory' }).marshal(), Links: [] })
  const root = await dagPbBlock({ Data: fileData([10n]), Links: [{ Hash: dir.cid, Tsize: dir.bytes.byteLength }] })
  return { root: root.cid, blocks: [dir, root], description: 'a directory where file data belongs' }
}

/** Every small hostile DAG (not the deep ones), for loops over read paths. */
export async function smallHostileDags(): Promise<HostileDag[]> {
  return [await invalidUnixfsChild(), await blockSizesBeyondData(), await directoryAsFileChild()]
}

/**
 * A multipart body for Kubo `block/put` (`cid-codec` dag-pb for dag-pb blocks): one part
 * per block. Raw and dag-pb blocks need separate calls, so this takes blocks of one codec.
 */
export function blockPutForm(blocks: Array<{ bytes: Uint8Array }>): FormData {
  const form = new FormData()
  for (const [i, block] of blocks.entries()) form.append(`file${i}`, new Blob([block.bytes as Uint8Array<ArrayBuffer>]), `b${i}`)
  return form
}

/**
 * Stores `dag` in a coordinator through Kubo `block/put` (children first, each codec with its
 * `cid-codec`) and pins the root. `url` is the coordinator's base URL, `token` a bearer token.
 */
export async function putHostileDag(url: string, token: string, dag: HostileDag): Promise<void> {
  const headers = { authorization: `Bearer ${token}` }
  const children = dag.blocks.slice(0, -1)
  const rootBlock = dag.blocks.at(-1) as { cid: CID; bytes: Uint8Array }
  for (const code of [raw.code, dagPb.code]) {
    const ofCodec = children.filter((b) => b.cid.code === code)
    if (ofCodec.length === 0) continue
    const codec = code === raw.code ? 'raw' : 'dag-pb'
    const res = await fetch(`${url}/api/v0/block/put?cid-codec=${codec}`, { method: 'POST', headers, body: blockPutForm(ofCodec) })
    if (res.status !== 200) throw new Error(`block/put of children: ${res.status} ${await res.text()}`)
  }
  const res = await fetch(`${url}/api/v0/block/put?cid-codec=dag-pb&pin=true`, { method: 'POST', headers, body: blockPutForm([rootBlock]) })
  if (res.status !== 200) throw new Error(`block/put of the root: ${res.status} ${await res.text()}`)
}

/**
 * Stores `dag` in a coordinator through Kubo `dag/import` (one CAR, root pinned): for DAGs
 * with thousands of blocks, where one `block/put` per block would be slow.
 */
export async function importHostileDag(url: string, token: string, dag: HostileDag): Promise<void> {
  const chunks: Uint8Array[] = []
  for await (const chunk of encodeCar(dag.root, (async function* () {
    yield* [...dag.blocks].reverse()
  })())) chunks.push(chunk)
  const form = new FormData()
  form.append('file', new Blob(chunks as Uint8Array<ArrayBuffer>[]), 'dag.car')
  const res = await fetch(`${url}/api/v0/dag/import?pin-roots=true`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
  const text = await res.text()
  if (res.status !== 200 || text.includes('PinErrorMsg":"E') || /"PinErrorMsg":"[^"]/.test(text)) throw new Error(`dag/import: ${res.status} ${text}`)
}
