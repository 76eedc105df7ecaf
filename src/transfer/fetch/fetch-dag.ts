import type { IncomingMessage } from 'node:http'
import * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'
import {
  AbortedError,
  type BlockSink,
  type BlockSource,
  blockLinks,
  CarBlockReader,
  InvalidCarError,
  InvalidOptionError,
  isIdentityCid,
  PinfoldError,
  type ProgressEvent,
  type ProgressOptions,
  verifyBlock,
} from '../../core/index.ts'
import type { AddressPolicy } from './address-policy.ts'
import { type BandwidthLimiter, createBandwidthLimiter } from './bandwidth.ts'
import { FetchFailedError, type SourceFailure, SourceFailedError, UnexpectedBlockError } from './errors.ts'
import { bodyChunks, httpGet } from './http-get.ts'

/** Received bytes between flushes of the store (see `#checkpoint`). */
const CHECKPOINT_BYTES = 8 * 1024 * 1024

/** A peer serving the IPFS trustless gateway. */
export interface DagSource {
  /** Base URL under which `/ipfs/{cid}` is served, e.g. `http://10.0.0.2:4001`. */
  url: string
  /** Sent with every request to this source (e.g. `Authorization`). */
  headers?: Record<string, string>
}

export type FetchProgressEvent =
  /** Once, after the local walk: what is already present and how many subtrees are missing. */
  | ProgressEvent<'fetch:scan', { presentBlocks: number; presentBytes: number; missingSubtrees: number }>
  /** After each block is verified and stored: the block and running totals of this call. */
  | ProgressEvent<
      'fetch:block',
      { cid: CID; bytes: number; source: string; fetchedBlocks: number; fetchedBytes: number }
    >
  /** A source was given up on (it is not asked again during this call). */
  | ProgressEvent<'fetch:source-failed', SourceFailure>

export interface FetchDagOptions extends ProgressOptions<FetchProgressEvent> {
  /** Where to fetch from; tried in order of least load, each dropped at its first failure. */
  sources: DagSource[]
  /**
   * Caps bytes read per second over all requests of this call: a number builds a limiter
   * for this call alone; a {@link BandwidthLimiter} (from `createBandwidthLimiter`) may be
   * shared by many calls so a whole node stays under one cap. Default: no cap.
   */
  bandwidthBytesPerSecond?: number | BandwidthLimiter
  /** Requests (subtrees) in flight at once, spread over the sources. Default 4. */
  parallelism?: number
  /** Largest block accepted (default 2 MiB, Kubo's ceiling); a larger one fails the source. */
  maxBlockBytes?: number
  /** A source silent this long mid-request fails (default 30 s). */
  idleTimeoutMs?: number
  /**
   * Sources chosen by users (not by the cluster) are reached only at addresses this
   * policy allows, checked on the address connected to and on every redirect hop.
   */
  addressPolicy?: AddressPolicy
}

export interface FetchDagResult {
  /** Distinct blocks of the DAG now present (identity blocks excluded). */
  blocks: number
  /** Their total bytes. */
  bytes: number
  /** Blocks received from sources and verified (a block sent twice counts twice). */
  fetchedBlocks: number
  /** Bytes of those blocks. */
  fetchedBytes: number
  /** Blocks found already present, not fetched. */
  skippedBlocks: number
}

const DEFAULT_PARALLELISM = 4
const DEFAULT_MAX_BLOCK_BYTES = 2 * 1024 * 1024
const DEFAULT_IDLE_TIMEOUT_MS = 30_000
const MAX_HEADER_BYTES = 64 * 1024
/** Splitting a DAG across sources fetches at most this many levels block by block. */
const MAX_SPLIT_DEPTH = 3
/** Why a finished request's signal is aborted (cancels whatever of it still runs). */
const REQUEST_CLOSED = new Error('request closed')
const CAR_ACCEPT = 'application/vnd.ipld.car; version=1; order=dfs; dups=n'
const RAW_ACCEPT = 'application/vnd.ipld.raw'

/**
 * Fetches the DAG under `root` into `store` from trustless gateways, verifying every
 * block, and resuming from what `store` already holds.
 *
 * 1. Walks the DAG through `store` from `root`: present blocks are read for their links,
 *    and every missing CID whose parent is present becomes a subtree to fetch.
 * 2. Fetches each missing subtree with `GET {url}/ipfs/{cid}?format=car&dag-scope=all`,
 *    up to `parallelism` at once, each from one source (the least busy). When several
 *    sources are usable and fewer subtrees than `parallelism` remain, a dag-pb subtree
 *    root is fetched alone (`format=raw`) so its children can go to different sources.
 * 3. Every received block must be the requested CID or linked from a block already
 *    verified in the same response (else `ERR_UNEXPECTED_BLOCK`), and must hash to its
 *    CID (`ERR_BLOCK_HASH_MISMATCH`); only then is it `put`. A bad, truncated or
 *    unreachable source is dropped for the rest of the call; what it delivered and
 *    verified is kept, and the subtrees it still owed are asked of the other sources.
 * 4. `store.flush()` at the end, also when failing or aborted, so a later call resumes.
 *
 * Nothing is pinned: the caller pins once this resolves (a repo refuses to pin an
 * incomplete DAG). With a repo, call it inside `repo.runAdd` so GC cannot collect the
 * blocks between fetch and pin.
 *
 * Rejects with `FetchFailedError` (`ERR_FETCH_FAILED`, per-source reasons) when no source
 * can deliver what is missing, `AbortedError` when `signal` fires (in-flight requests are
 * cancelled at once; a block is put whole or not at all), and the store's own error when
 * it fails. Concurrent calls for overlapping DAGs are safe (`put` is idempotent).
 */
export async function fetchDag(
  root: CID,
  store: BlockSink & BlockSource,
  options: FetchDagOptions,
): Promise<FetchDagResult> {
  if (options.signal?.aborted === true) throw new AbortedError()
  const parallelism = options.parallelism ?? DEFAULT_PARALLELISM
  if (!Number.isSafeInteger(parallelism) || parallelism < 1) {
    throw new InvalidOptionError('parallelism must be a positive integer')
  }
  const maxBlockBytes = options.maxBlockBytes ?? DEFAULT_MAX_BLOCK_BYTES
  if (!Number.isSafeInteger(maxBlockBytes) || maxBlockBytes < 1) {
    throw new InvalidOptionError('maxBlockBytes must be a positive integer')
  }
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
  if (!(idleTimeoutMs > 0)) throw new InvalidOptionError('idleTimeoutMs must be positive')
  const cap = options.bandwidthBytesPerSecond
  const limiter = cap === undefined ? undefined : typeof cap === 'number' ? createBandwidthLimiter(cap) : cap
  const sources = options.sources.map((s) => ({
    url: s.url.replace(/\/+$/, ''),
    headers: s.headers ?? {},
    active: 0,
    failed: false,
  }))
  const run = new DagFetch(root, store, sources, {
    parallelism,
    maxBlockBytes,
    idleTimeoutMs,
    limiter,
    addressPolicy: options.addressPolicy,
    onProgress: options.onProgress,
  })
  return run.run(options.signal)
}

interface SourceState {
  url: string
  headers: Record<string, string>
  active: number
  failed: boolean
}

interface Task {
  cid: CID
  depth: number
}

interface RunSettings {
  parallelism: number
  maxBlockBytes: number
  idleTimeoutMs: number
  limiter: BandwidthLimiter | undefined
  addressPolicy: AddressPolicy | undefined
  onProgress: ((event: FetchProgressEvent) => void) | undefined
}

/** A failure of the local store (or of the DAG itself): fatal, not a source's fault. */
class LocalFailure {
  readonly cause: unknown
  constructor(cause: unknown) {
    this.cause = cause
  }
}

/** State of one `fetchDag` call. */
class DagFetch {
  readonly #root: CID
  readonly #store: BlockSink & BlockSource
  #sinceCheckpoint = 0
  readonly #sources: SourceState[]
  readonly #settings: RunSettings
  readonly #stop = new AbortController()
  /** Verified or present blocks of the DAG: key → size. */
  readonly #have = new Map<string, number>()
  /** CIDs queued or being fetched. */
  readonly #scheduled = new Set<string>()
  /** CIDs the store holds but whose bytes failed their hash check: fetched as if missing. */
  readonly #corrupt = new Set<string>()
  readonly #queue: Task[] = []
  readonly #failures: SourceFailure[] = []
  #active = 0
  #roundRobin = 0
  #fatal: unknown
  #fetchedBlocks = 0
  #fetchedBytes = 0
  #skippedBlocks = 0

  constructor(root: CID, store: BlockSink & BlockSource, sources: SourceState[], settings: RunSettings) {
    this.#root = root
    this.#store = store
    this.#sources = sources
    this.#settings = settings
  }

  async run(signal: AbortSignal | undefined): Promise<FetchDagResult> {
    const onAbort = () => this.#halt(new AbortedError())
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      try {
        await this.#scan(this.#root, 0)
      } catch (err) {
        this.#halt(err instanceof LocalFailure ? err.cause : err)
      }
      if (this.#fatal === undefined) {
        let presentBytes = 0
        for (const size of this.#have.values()) presentBytes += size
        this.#emit({
          type: 'fetch:scan',
          detail: { presentBlocks: this.#have.size, presentBytes, missingSubtrees: this.#queue.length },
        })
        await this.#pump()
      }
    } finally {
      signal?.removeEventListener('abort', onAbort)
      // Whatever was verified is kept durable, so a later call resumes from it.
      const flushed = this.#store.flush().catch((err: unknown) => err)
      const flushError = await flushed
      if (this.#fatal === undefined && flushError !== undefined) this.#fatal = flushError
    }
    if (this.#fatal !== undefined) throw this.#fatal
    let bytes = 0
    for (const size of this.#have.values()) bytes += size
    return {
      blocks: this.#have.size,
      bytes,
      fetchedBlocks: this.#fetchedBlocks,
      fetchedBytes: this.#fetchedBytes,
      skippedBlocks: this.#skippedBlocks,
    }
  }

  /** Stops everything: no new task starts, in-flight requests are cancelled. First error wins. */
  #halt(err: unknown): void {
    if (this.#fatal === undefined) this.#fatal = err
    this.#stop.abort(err)
  }

  #emit(event: FetchProgressEvent): void {
    this.#settings.onProgress?.(event)
  }

  /**
   * Walks the present part of the DAG from `cid` (depth-first), recording present blocks
   * and queueing each missing or corrupt CID. Store failures are wrapped in `LocalFailure`.
   */
  async #scan(cid: CID, depth: number): Promise<void> {
    const stack: CID[] = [cid]
    while (stack.length > 0) {
      if (this.#stop.signal.aborted) return
      const next = stack.pop() as CID
      const key = next.toString()
      if (this.#have.has(key)) continue
      if (isIdentityCid(next)) {
        stack.push(...this.#links(next, next.multihash.digest))
        continue
      }
      let bytes: Uint8Array | undefined
      try {
        if (await this.#store.has(next)) bytes = await this.#store.get(next)
      } catch (err) {
        // a held block that fails its hash check is fetched like a missing one (the store
        // repairs it meanwhile), so one pass finds every bad block rather than one per attempt
        if ((err as { code?: unknown }).code !== 'ERR_BLOCK_CORRUPT') throw new LocalFailure(err)
        this.#corrupt.add(key)
      }
      if (bytes === undefined) {
        this.#enqueue(next, depth)
        continue
      }
      this.#have.set(key, bytes.byteLength)
      this.#skippedBlocks++
      const links = this.#links(next, bytes)
      for (let i = links.length - 1; i >= 0; i--) stack.push(links[i] as CID)
    }
  }

  /** Links of a verified block; a block that does not decode is the DAG's fault, not a source's. */
  #links(cid: CID, bytes: Uint8Array): CID[] {
    try {
      return blockLinks(cid, bytes)
    } catch (err) {
      throw new LocalFailure(err)
    }
  }

  #enqueue(cid: CID, depth: number): void {
    const key = cid.toString()
    if (this.#have.has(key) || this.#scheduled.has(key)) return
    this.#scheduled.add(key)
    this.#queue.push({ cid, depth })
  }

  /** Runs queued tasks, `parallelism` at a time, until the queue drains or the run halts. */
  #pump(): Promise<void> {
    const { parallelism } = this.#settings
    return new Promise((resolve) => {
      const next = () => {
        while (!this.#stop.signal.aborted && this.#active < parallelism && this.#queue.length > 0) {
          const source = this.#pickSource()
          if (source === undefined) break
          const task = this.#queue.shift() as Task
          const split = this.#shouldSplit(task)
          this.#active++
          source.active++
          void this.#runTask(task, source, split).finally(() => {
            this.#active--
            source.active--
            next()
          })
        }
        if (this.#active > 0) return
        if (!this.#stop.signal.aborted && this.#queue.length > 0) {
          const missing = this.#queue.slice(0, 100).map((t) => t.cid)
          this.#halt(new FetchFailedError(this.#root, this.#failures, missing, this.#queue.length))
        }
        resolve()
      }
      next()
    })
  }

  /** Fetch one block alone (to fan its children out) while sources would otherwise idle. */
  #shouldSplit(task: Task): boolean {
    if (task.cid.code !== dagPb.code || task.depth >= MAX_SPLIT_DEPTH) return false
    if (this.#settings.parallelism < 2) return false
    if (this.#sources.filter((s) => !s.failed).length < 2) return false
    return this.#queue.length + this.#active < this.#settings.parallelism
  }

  /** The usable source with the fewest requests in flight (ties rotate). */
  #pickSource(): SourceState | undefined {
    const n = this.#sources.length
    let best: SourceState | undefined
    for (let i = 0; i < n; i++) {
      const source = this.#sources[(this.#roundRobin + i) % n] as SourceState
      if (source.failed) continue
      if (best === undefined || source.active < best.active) best = source
    }
    this.#roundRobin++
    return best
  }

  /** Never rejects: source failures drop the source and requeue, anything else halts the run. */
  async #runTask(task: Task, source: SourceState, split: boolean): Promise<void> {
    try {
      let present: boolean
      try {
        present = !this.#corrupt.has(task.cid.toString()) && (await this.#store.has(task.cid))
      } catch (err) {
        throw new LocalFailure(err)
      }
      if (present) {
        // Another task (or another fetch into the same store) delivered it meanwhile.
        this.#scheduled.delete(task.cid.toString())
        await this.#scan(task.cid, task.depth)
        return
      }
      if (split) await this.#fetchBlock(task, source)
      else await this.#fetchCar(task, source)
    } catch (err) {
      if (err instanceof LocalFailure) {
        this.#halt(err.cause)
        return
      }
      if (this.#stop.signal.aborted) return
      this.#sourceFailed(source, err)
    }
  }

  #sourceFailed(source: SourceState, err: unknown): void {
    if (source.failed) return
    source.failed = true
    const failure: SourceFailure = {
      source: source.url,
      code: err instanceof PinfoldError ? err.code : 'ERR_SOURCE_FAILED',
      message: err instanceof Error ? err.message : String(err),
    }
    this.#failures.push(failure)
    this.#emit({ type: 'fetch:source-failed', detail: failure })
  }

  /**
   * Makes received blocks durable every CHECKPOINT_BYTES, so a transfer killed midway
   * resumes from its last checkpoint instead of from the store's last (large) batch.
   */
  async #checkpoint(bytes: number): Promise<void> {
    this.#sinceCheckpoint += bytes
    if (this.#sinceCheckpoint < CHECKPOINT_BYTES) return
    this.#sinceCheckpoint = 0
    try {
      await this.#store.flush()
    } catch (err) {
      throw new LocalFailure(err)
    }
  }

  /** Verifies, stores and accounts for one block received from `source`. */
  async #accept(cid: CID, bytes: Uint8Array, source: SourceState): Promise<CID[]> {
    await verifyBlock(cid, bytes)
    const links = this.#links(cid, bytes)
    const key = cid.toString()
    if (this.#stop.signal.aborted) throw new AbortedError()
    if (!this.#have.has(key)) {
      try {
        await this.#store.put(cid, bytes)
      } catch (err) {
        throw new LocalFailure(err)
      }
      this.#have.set(key, bytes.byteLength)
    }
    this.#fetchedBlocks++
    this.#fetchedBytes += bytes.byteLength
    await this.#checkpoint(bytes.byteLength)
    this.#emit({
      type: 'fetch:block',
      detail: {
        cid,
        bytes: bytes.byteLength,
        source: source.url,
        fetchedBlocks: this.#fetchedBlocks,
        fetchedBytes: this.#fetchedBytes,
      },
    })
    return links
  }

  /** Fetches the whole subtree under `task.cid` as one CAR from `source`. */
  async #fetchCar(task: Task, source: SourceState): Promise<void> {
    // CIDs this response may still send: the root, then whatever verified blocks link to.
    const pending = new Map<string, CID>([[task.cid.toString(), task.cid]])
    const received = new Set<string>()
    const expect = (cid: CID) => {
      if (isIdentityCid(cid)) {
        for (const link of this.#links(cid, cid.multihash.digest)) expect(link)
        return
      }
      const key = cid.toString()
      if (!received.has(key)) pending.set(key, cid)
    }
    const request = this.#request(source, `${task.cid}?format=car&dag-scope=all`, CAR_ACCEPT)
    try {
      const body = await request.open('application/vnd.ipld.car')
      const reader = new CarBlockReader(body, {
        maxBlockBytes: this.#settings.maxBlockBytes,
        maxHeaderBytes: MAX_HEADER_BYTES,
      })
      try {
        await reader.readHeader()
        for (let block = await reader.next(); block !== undefined; block = await reader.next()) {
          const key = block.cid.toString()
          if (!pending.has(key)) {
            // A duplicate of a block this response already sent is tolerated (dups=y servers).
            if (received.has(key)) {
              await verifyBlock(block.cid, block.bytes)
              continue
            }
            throw new UnexpectedBlockError(block.cid)
          }
          const links = await this.#accept(block.cid, block.bytes, source)
          pending.delete(key)
          received.add(key)
          for (const link of links) expect(link)
        }
      } finally {
        await reader.close().catch(() => {})
      }
      if (pending.size > 0) {
        throw new InvalidCarError(`response ended with ${pending.size} linked block(s) not sent`)
      }
    } catch (err) {
      throw request.explain(err)
    } finally {
      request.close()
      // What this response still owed is asked of the other sources, subtree by subtree.
      this.#scheduled.delete(task.cid.toString())
      for (const cid of pending.values()) this.#enqueue(cid, task.depth + 1)
    }
  }

  /** Fetches `task.cid` alone (`format=raw`) and queues its children. */
  async #fetchBlock(task: Task, source: SourceState): Promise<void> {
    const request = this.#request(source, `${task.cid}?format=raw`, RAW_ACCEPT)
    let links: CID[] | undefined
    try {
      const body = await request.open('application/vnd.ipld.raw')
      const parts: Uint8Array[] = []
      let size = 0
      for await (const chunk of body) {
        size += chunk.byteLength
        if (size > this.#settings.maxBlockBytes) {
          throw new InvalidCarError(`block ${task.cid} exceeds limit ${this.#settings.maxBlockBytes}`)
        }
        parts.push(chunk)
      }
      const bytes = concat(parts, size)
      links = await this.#accept(task.cid, bytes, source)
    } catch (err) {
      throw request.explain(err)
    } finally {
      request.close()
      this.#scheduled.delete(task.cid.toString())
      if (links === undefined) this.#enqueue(task.cid, task.depth)
    }
    for (const link of links) await this.#scan(link, task.depth + 1)
  }

  /** One HTTP request to `source`, cancelled by the run's stop signal or by idleness. */
  #request(source: SourceState, path: string, accept: string) {
    const { idleTimeoutMs, limiter } = this.#settings
    const url = `${source.url}/ipfs/${path}`
    const controller = new AbortController()
    const signal = AbortSignal.any([this.#stop.signal, controller.signal])
    let timer: NodeJS.Timeout | undefined
    const idle = {
      arm: () => {
        clearTimeout(timer)
        timer = setTimeout(
          () => controller.abort(new SourceFailedError(`no data from ${url} for ${idleTimeoutMs} ms`)),
          idleTimeoutMs,
        )
      },
      disarm: () => clearTimeout(timer),
    }
    return {
      /** Sends the request and returns the checked body as metered chunks. */
      open: async (contentType: string): Promise<AsyncIterable<Uint8Array>> => {
        idle.arm()
        let response: IncomingMessage
        try {
          response = await httpGet(url, { ...source.headers, Accept: accept }, signal, {
            addressPolicy: this.#settings.addressPolicy,
          })
        } catch (err) {
          throw new SourceFailedError(`request to ${url} failed: ${describe(err)}`, err)
        } finally {
          idle.disarm()
        }
        if (response.statusCode !== 200) {
          response.destroy()
          throw new SourceFailedError(`${url} answered ${response.statusCode} ${response.statusMessage ?? ''}`.trim())
        }
        const type = response.headers['content-type'] ?? ''
        if (!type.toLowerCase().startsWith(contentType)) {
          response.destroy()
          throw new SourceFailedError(`${url} answered with content type ${JSON.stringify(type)}`)
        }
        return metered(response, idle, limiter, signal)
      },
      /** Maps a failure of this request to the error to record against the source. */
      explain: (err: unknown): unknown => {
        if (err instanceof LocalFailure) return err
        const reason: unknown = controller.signal.reason
        if (controller.signal.aborted && reason instanceof SourceFailedError) return reason // idle timeout
        if (err instanceof PinfoldError) return err
        return new SourceFailedError(`reading ${url} failed: ${describe(err)}`, err)
      },
      close: () => {
        clearTimeout(timer)
        controller.abort(REQUEST_CLOSED) // a shared reason: a fresh DOMException per request costs a stack trace
      },
    }
  }
}

/**
 * Passes chunks through, charging the bandwidth limiter. The idle timer runs only while
 * waiting on the network (not while throttled or while the consumer verifies and stores).
 */
async function* metered(
  body: IncomingMessage,
  idle: { arm(): void; disarm(): void },
  limiter: BandwidthLimiter | undefined,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const chunks = bodyChunks(body)
  try {
    while (true) {
      idle.arm()
      let result: IteratorResult<Buffer>
      try {
        result = await chunks.next()
      } finally {
        idle.disarm()
      }
      if (result.done === true) {
        // a body cut short of its Content-Length or final chunk is an error, not an end
        if (!body.complete) throw new SourceFailedError('response body ended early')
        return
      }
      if (limiter !== undefined) await limiter.take(result.value.byteLength, { signal })
      yield result.value
    }
  } finally {
    body.destroy()
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array
  const out = new Uint8Array(size)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.byteLength
  }
  return out
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : ''
  return `${err.message}${cause}`
}
