import * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import { type AbortOptions, BlockNotFoundError, type BlockSource, blockLinks } from '../../core/index.ts'
import { BlockCache, BoundedMap } from './block-cache.ts'
import { fetchVerifiedBlock } from './remote-block.ts'
import { SourceFailedError } from '../../transfer/fetch/index.ts'

/**
 * What every read path of the coordinator (gateway, REST content and tar, Kubo RPC, share
 * links) reads blocks from: the origin repo (staging) first, then the storage nodes that
 * hold the DAG. Safe to call concurrently; concurrent reads of one block share one fetch.
 */
export interface ContentSource extends BlockSource {
  /** The block's size in bytes, from the origin repo's index or by reading the block. */
  size(cid: CID, options?: AbortOptions): Promise<number | undefined>
}

export interface ContentSourceOptions {
  /** The origin repo's blocks; what it holds is served without asking a node. */
  local: BlockSource & { size(cid: CID, options?: AbortOptions): Promise<number | undefined> }
  /** Base URLs of storage nodes holding the DAG rooted at `root` (pinned, up), without this coordinator. */
  holders(root: string): Promise<string[]>
  /** The coordinator's own peer token for the node at `url` (audience that node). */
  peerToken(url: string): Promise<string | undefined>
  logger: Logger
  /** Bytes of verified remote blocks kept in memory (default 64 MiB). */
  cacheBytes?: number
  /** Following siblings fetched ahead of a sequential read (default 8). */
  readAhead?: number
}

/** Where a block was linked from, learned while reading its parent. */
interface Linked {
  root: string
  parent: string
  index: number
}

const HOLDERS_TTL_MS = 2000
const BLOCK_TIMEOUT_MS = 30_000
/** Links remembered (~150 bytes each): enough for a few 100 GB files being read at once. */
const MAX_LINKED = 500_000
const MAX_LINK_LISTS = 20_000

/**
 * A block absent from the origin repo is fetched with `?format=raw` from a node that holds
 * the DAG and verified against its CID before it is used. Which DAG a block belongs to is
 * learned from the parent that linked it — every read path walks down from a root the
 * registry pins — so the nodes asked are those the registry records as holding that root.
 * A read of child i of a parent fetches the next `readAhead` siblings too, so a sequential
 * read keeps several requests in flight; a Range read starts where the range does and never
 * fetches what lies before it. A block no holder can deliver fails the read
 * (`ERR_BLOCK_NOT_FOUND` when nobody holds it, else `ERR_SOURCE_FAILED`).
 */
export function createContentSource(options: ContentSourceOptions): ContentSource {
  const { local, logger } = options
  const readAhead = options.readAhead ?? 8
  const cache = new BlockCache(options.cacheBytes ?? 64 * 1024 * 1024)
  const linked = new BoundedMap<string, Linked>(MAX_LINKED)
  const linkLists = new BoundedMap<string, CID[]>(MAX_LINK_LISTS)
  const holders = new BoundedMap<string, { urls: Promise<string[]>; at: number }>(1000)
  const inFlight = new Map<string, Promise<Uint8Array>>()
  let turn = 0

  function holdersOf(root: string): Promise<string[]> {
    const known = holders.get(root)
    if (known !== undefined && Date.now() - known.at < HOLDERS_TTL_MS) return known.urls
    const urls = options.holders(root)
    holders.set(root, { urls, at: Date.now() })
    urls.catch(() => holders.delete(root))
    return urls
  }

  async function fetchRemote(cid: CID, key: string, signal: AbortSignal): Promise<Uint8Array> {
    const root = linked.get(key)?.root ?? cid.toString()
    const urls = await holdersOf(root)
    if (urls.length === 0) throw new BlockNotFoundError(cid)
    const start = turn++
    let lastError: unknown
    for (let i = 0; i < urls.length; i++) {
      const url = urls[(start + i) % urls.length] as string
      try {
        const token = await options.peerToken(url)
        if (token === undefined) throw new SourceFailedError(`no storage node answers at ${url}`)
        const bytes = await fetchVerifiedBlock(url, cid, token, signal)
        learn(cid, key, root, bytes)
        cache.set(key, bytes)
        return bytes
      } catch (error) {
        if (signal.aborted) throw error
        lastError = error
        logger.warn({ err: error, cid: cid.toString(), url }, 'a storage node could not deliver a block; trying the next holder')
      }
    }
    throw lastError
  }

  function learn(cid: CID, key: string, root: string, bytes: Uint8Array): void {
    if (cid.code !== dagPb.code) return
    const links = blockLinks(cid, bytes)
    if (links.length === 0) return
    linkLists.set(key, links)
    for (const [index, link] of links.entries()) linked.set(keyOf(link), { root, parent: key, index })
  }

  function fetchShared(cid: CID, key: string, signal?: AbortSignal): Promise<Uint8Array> {
    let running = inFlight.get(key)
    if (running === undefined) {
      // a shared fetch outlives any one reader's abort; it is bounded by its own timeout
      running = fetchRemote(cid, key, AbortSignal.timeout(BLOCK_TIMEOUT_MS)).finally(() => inFlight.delete(key))
      inFlight.set(key, running)
    }
    return signal === undefined ? running : abortable(running, signal)
  }

  function prefetchSiblings(key: string): void {
    const at = linked.get(key)
    const siblings = at === undefined ? undefined : linkLists.get(at.parent)
    if (at === undefined || siblings === undefined) return
    for (const next of siblings.slice(at.index + 1, at.index + 1 + readAhead)) {
      const nextKey = keyOf(next)
      if (cache.has(nextKey) || inFlight.has(nextKey)) continue
      fetchShared(next, nextKey).catch(() => undefined) // the read itself reports a failure
    }
  }

  return {
    async get(cid, opts) {
      try {
        return await local.get(cid, opts)
      } catch (error) {
        // absent, or corrupt (the repo is repairing it): the nodes have it
        const code = (error as { code?: string }).code
        if (code !== 'ERR_BLOCK_NOT_FOUND' && code !== 'ERR_BLOCK_CORRUPT') throw error
      }
      const key = keyOf(cid)
      const bytes = cache.get(key) ?? (await fetchShared(cid, key, opts?.signal))
      prefetchSiblings(key)
      return bytes
    },
    async has(cid, opts) {
      if (await local.has(cid, opts)) return true
      const key = keyOf(cid)
      if (cache.has(key) || linked.has(key)) return true
      return (await holdersOf(cid.toString())).length > 0
    },
    async size(cid, opts) {
      return (await local.size(cid, opts)) ?? (await this.get(cid, opts)).byteLength
    },
  }
}

function keyOf(cid: CID): string {
  return Buffer.from(cid.multihash.bytes).toString('base64')
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
