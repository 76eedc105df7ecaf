import { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import type { AbortOptions } from '../../core/index.ts'
import type { Repo } from '../../repo/index.ts'
import { type BandwidthLimiter, bearerSource, type DagSource, type FetchDagOptions, type FetchDagResult } from '../../transfer/fetch/index.ts'
import type { LocatedSource } from '../control/control-client.ts'
import type { ExecutorWorker } from './executor.ts'

/** `fetchDag`'s shape, injectable for tests. */
export type FetchDagFn = (
  root: CID,
  store: Repo['blocks'],
  options: FetchDagOptions,
) => Promise<FetchDagResult>

export interface RepoWorkerOptions {
  repo: Repo
  fetchDag: FetchDagFn
  /** Where a CID can be fetched from (the coordinator's `locate`), each with the token bound to that source; may be empty. */
  locate(cid: string): Promise<LocatedSource[]>
  /** Always tried last: the coordinator's own /ipfs/. */
  fallbackSources(): string[]
  /** The channel's peer token: sent to the fallback sources (the coordinator) only, never to a peer. */
  peerToken(): string | undefined
  /** This node's own gateway URL, never used as a source. */
  selfUrl?: string
  limiter?: BandwidthLimiter
  /** Fetch requests in flight per DAG. Default 4. */
  parallelism?: number
  /** GC runs this long after the last unpin. Default 5 s. */
  gcDebounceMs?: number
  logger: Logger
}

/** Base URL of a source, whatever form the coordinator named it in. */
export function sourceBase(url: string): string {
  const at = url.indexOf('/ipfs/')
  return (at >= 0 ? url.slice(0, at) : url).replace(/\/+$/, '')
}

/**
 * Pins by fetching the DAG (verified, resumable) from the sources the coordinator names,
 * then the coordinator itself, into the repo and pinning it — both inside `repo.runAdd`, so
 * GC cannot collect fetched blocks before the pin. Unpins with `pins.rm` and a debounced GC.
 */
export function createRepoWorker(options: RepoWorkerOptions): ExecutorWorker & { close(): Promise<void> } {
  const { repo, logger } = options
  const gcDebounceMs = options.gcDebounceMs ?? 5000
  let gcTimer: NodeJS.Timeout | undefined
  let gcRunning: Promise<void> | undefined
  let closed = false

  const runGc = () => {
    gcTimer = undefined
    if (closed) return
    gcRunning = repo
      .gc()
      .then((result) => logger.info({ removedBlocks: result.removedBlocks, removedBytes: result.removedBytes }, 'gc after unpins'))
      .catch((err: unknown) => logger.warn({ err }, 'gc failed'))
      .finally(() => {
        gcRunning = undefined
      })
  }

  return {
    async pin(cidText: string, abort: AbortOptions) {
      const cid = CID.parse(cidText)
      if (await repo.pins.get(cid, abort)) return
      // a restarted node resumes its queue before the coordinator has welcomed it: wait for
      // the peer token rather than failing the first attempt with a 401
      const token = await waitForToken(options.peerToken, abort.signal)
      const located = await options.locate(cidText)
      const sources = fetchSources(located, options.fallbackSources(), token, options.selfUrl)
      await repo.runAdd(async () => {
        const fetchOptions: FetchDagOptions = { sources, parallelism: options.parallelism ?? 4 }
        if (abort.signal !== undefined) fetchOptions.signal = abort.signal
        if (options.limiter !== undefined) fetchOptions.bandwidthBytesPerSecond = options.limiter
        const result = await options.fetchDag(cid, repo.blocks, fetchOptions)
        await repo.pins.add(cid, { recursive: true, ...abort })
        logger.debug({ cid: cidText, fetchedBytes: result.fetchedBytes, skippedBlocks: result.skippedBlocks }, 'pinned')
      })
    },
    async unpin(cidText: string, abort: AbortOptions) {
      const cid = CID.parse(cidText)
      const removed = await repo.pins.rm(cid, abort)
      if (removed && !closed) {
        clearTimeout(gcTimer)
        gcTimer = setTimeout(runGc, gcDebounceMs)
        gcTimer.unref?.()
      }
    },
    async close() {
      closed = true
      clearTimeout(gcTimer)
      await gcRunning
    },
  }
}

/**
 * Located sources with the token bound to each, then the fallbacks with the channel's token;
 * each URL once (the first entry wins), never this node itself. A peer gets only its own
 * token: one it could replay at the coordinator or another node is never sent to it.
 */
function fetchSources(located: LocatedSource[], fallbacks: string[], channelToken: string | undefined, selfUrl: string | undefined): DagSource[] {
  const self = selfUrl === undefined ? undefined : sourceBase(selfUrl)
  const byUrl = new Map<string, string | undefined>()
  const add = (url: string, token: string | undefined) => {
    const base = sourceBase(url)
    if (base !== self && !byUrl.has(base)) byUrl.set(base, token)
  }
  for (const source of located) add(source.url, source.token)
  for (const url of fallbacks) add(url, channelToken)
  return [...byUrl].map(([url, token]) => bearerSource(url, token))
}

const TOKEN_WAIT_MS = 30_000

async function waitForToken(read: () => string | undefined, signal?: AbortSignal): Promise<string | undefined> {
  const until = Date.now() + TOKEN_WAIT_MS
  let token = read()
  while (token === undefined && Date.now() < until) {
    signal?.throwIfAborted()
    await new Promise((resolve) => setTimeout(resolve, 100))
    token = read()
  }
  return token
}
