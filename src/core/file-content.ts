import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { UnixFSEntry } from 'ipfs-unixfs-exporter'
import type { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import type { BlockSource } from './blockstore.ts'
import { PinfoldError } from './errors.ts'
import { withIdentity } from './identity.ts'
import type { AbortOptions } from './options.ts'

/** An exporter entry whose content is a byte stream. */
export type ByteEntry = Extract<UnixFSEntry, { type: 'file' | 'raw' | 'identity' }>

/** A child still to read: where its bytes start in the file and how many its parent declared. */
interface PendingChild {
  cid: CID
  start: bigint
  size: bigint
}

/**
 * Streams bytes `[offset, offset + length)` of a file entry (UnixFS file, raw or identity),
 * in file order. Pinfold's own walker instead of the exporter's `content()`: that one queues
 * child reads in jobs nobody awaits, so a crafted or rotten child block became an unhandled
 * rejection that ended the process. This one is one loop with an explicit stack (no
 * recursion per level, so any depth is fine), reads one block at a time, and checks every
 * block against what its parent declared: a child must be raw or a UnixFS file/raw node,
 * and hold exactly the bytes its parent's `blockSizes` entry says (data + its own
 * `blockSizes`). Any violation rejects with `PinfoldError` `ERR_INVALID_DAG` before a byte of
 * that block is yielded, so a consumer never receives a short or padded file as complete.
 * Errors from the source (missing or corrupt blocks, aborts) pass through.
 */
export async function* fileContent(
  source: BlockSource,
  entry: ByteEntry,
  range: { offset: number; length: number },
  options: AbortOptions = {},
): AsyncGenerator<Uint8Array> {
  const first = BigInt(range.offset)
  const end = first + BigInt(range.length)
  if (end <= first) return
  if (entry.type !== 'file') {
    yield entry.node.subarray(range.offset, range.offset + range.length)
    return
  }
  const store = withIdentity(source)
  const stack: PendingChild[] = []
  yield* visit(entry.unixfs, entry.node.Links, 0n, { first, end, stack, cid: entry.cid })
  while (stack.length > 0) {
    options.signal?.throwIfAborted()
    const child = stack.pop() as PendingChild
    const bytes = await store.get(child.cid, options)
    if (child.cid.code === raw.code) {
      if (BigInt(bytes.byteLength) !== child.size) throw sizeMismatch(child, BigInt(bytes.byteLength))
      yield* slice(bytes, child.start, first, end)
      continue
    }
    if (child.cid.code !== dagPb.code) throw invalid(`${child.cid} is neither raw nor dag-pb inside a file`)
    const { node, unixfs } = decodeFileNode(child.cid, bytes)
    const own = BigInt(unixfs.data?.byteLength ?? 0) + unixfs.blockSizes.reduce((sum, n) => sum + n, 0n)
    if (own !== child.size) throw sizeMismatch(child, own)
    yield* visit(unixfs, node.Links, child.start, { first, end, stack, cid: child.cid })
  }
}

/** Yields a node's own data (in range) and pushes its children in range, first child on top. */
function* visit(
  unixfs: UnixFS,
  links: dagPb.PBLink[],
  start: bigint,
  walk: { first: bigint; end: bigint; stack: PendingChild[]; cid: CID },
): Generator<Uint8Array> {
  if (links.length !== unixfs.blockSizes.length) {
    throw invalid(`${walk.cid} has ${links.length} links but ${unixfs.blockSizes.length} blockSizes`)
  }
  let position = start
  if (unixfs.data !== undefined && unixfs.data.byteLength > 0) {
    yield* slice(unixfs.data, position, walk.first, walk.end)
    position += BigInt(unixfs.data.byteLength)
  }
  const children: PendingChild[] = []
  for (let i = 0; i < links.length && position < walk.end; i++) {
    const size = unixfs.blockSizes[i] as bigint
    const childEnd = position + size
    if (childEnd > walk.first && size > 0n) children.push({ cid: (links[i] as dagPb.PBLink).Hash, start: position, size })
    position = childEnd
  }
  for (let i = children.length - 1; i >= 0; i--) walk.stack.push(children[i] as PendingChild)
}

/** The part of `data` (at file offset `start`) inside `[first, end)`, if any. */
function* slice(data: Uint8Array, start: bigint, first: bigint, end: bigint): Generator<Uint8Array> {
  const from = first > start ? Number(first - start) : 0
  const to = Math.min(data.byteLength, Number(end - start))
  if (to > from) yield data.subarray(from, to)
}

function decodeFileNode(cid: CID, bytes: Uint8Array): { node: dagPb.PBNode; unixfs: UnixFS } {
  let node: dagPb.PBNode
  let unixfs: UnixFS
  try {
    node = dagPb.decode(bytes)
    if (node.Data === undefined) throw new Error('no UnixFS data')
    unixfs = UnixFS.unmarshal(node.Data)
  } catch (err) {
    throw invalid(`${cid} is not a UnixFS file node: ${(err as Error).message}`, err)
  }
  if (unixfs.type !== 'file' && unixfs.type !== 'raw') throw invalid(`${cid} is a UnixFS ${unixfs.type} inside a file`)
  return { node, unixfs }
}

function sizeMismatch(child: PendingChild, actual: bigint): PinfoldError {
  return invalid(`blockSizes declare ${child.size} bytes for ${child.cid}, which holds ${actual}`)
}

function invalid(message: string, cause?: unknown): PinfoldError {
  return new PinfoldError('ERR_INVALID_DAG', `invalid file DAG: ${message}`, { userError: true, cause })
}
