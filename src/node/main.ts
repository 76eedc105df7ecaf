import { readFileSync } from 'node:fs'
import { access } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { CID } from 'multiformats/cid'
import { pino, type Logger } from 'pino'
import { loadOrCreateNodeIdentity, type NodeMessage } from '../cluster/index.ts'
import { initRepo, openRepo, type Repo } from '../repo/index.ts'
import { createBandwidthLimiter, fetchDag } from '../transfer/fetch/index.ts'
import { type ServedHandler, serveHandler } from '../transfer/index.ts'
import type { NodeConfig } from './config.ts'
import { AntiEntropy } from './control/anti-entropy.ts'
import { ControlClient, coordinatorBaseUrl } from './control/control-client.ts'
import { StatusOutbox } from './control/status-outbox.ts'
import { Executor } from './executor/executor.ts'
import { QueueStore } from './executor/queue-store.ts'
import { createRepoWorker, type FetchDagFn } from './executor/repo-worker.ts'
import { DropFolder, type IngestedFile } from './ingest/drop-folder.ts'
import { createNodeGateway } from './node-gateway.ts'
import { withStorageProofs } from './storage-proof-route.ts'
import { Repairer } from './repair.ts'

export interface RunningNode {
  nodeId: string
  /** Where this node serves `/ipfs/` to peers (what it reports to the coordinator). */
  gatewayUrl: string
  repo: Repo
  control: ControlClient
  executor: Executor
  state: QueueStore
  antiEntropy: AntiEntropy
  repairer: Repairer
  dropFolder: DropFolder
  /** Stops everything in order; queued work stays in node-state.sqlite. Idempotent. */
  close(): Promise<void>
}

export interface StartNodeOptions {
  logger?: Logger
  /** Replaces the real fetcher (tests). */
  fetchDag?: FetchDagFn
}

export const NODE_STATE_FILE = 'node-state.sqlite'
const CURSOR_KEY = 'cursor'
const COORDINATOR_KEY = 'coordinatorKey'

export const NODE_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }
    return pkg.version ?? '0.0.0'
  } catch {
    return '0.0.0'
  }
})()

/**
 * The storage node's composition root: opens (or creates) the repo, its identity and its
 * state file, serves the peer gateway, then runs the control client, executor, anti-entropy,
 * repair and drop-folder ingest, wired together here and nowhere else.
 */
export async function startNode(config: NodeConfig, options: StartNodeOptions = {}): Promise<RunningNode> {
  const logger = options.logger ?? pino({ level: config.logLevel })
  const log = (component: string) => logger.child({ component: `node:${component}` })
  const closers: Array<() => Promise<void> | void> = []
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      try {
        await close()
      } catch (err) {
        logger.warn({ err }, 'error while stopping')
      }
    }
    closers.length = 0
  }
  try {
    // a read that meets a corrupt block repairs it at once (the repairer exists a few lines below)
    let repairer: Repairer | undefined
    const repo = await openOrInitRepo(config, logger, (cid) => void repairer?.repairBlock(cid))
    closers.push(() => repo.close())
    const identity = await loadOrCreateNodeIdentity(repo.dir)
    const state = new QueueStore(join(repo.dir, NODE_STATE_FILE))
    closers.push(() => state.close())

    let coordinatorKey: Uint8Array | undefined = decodeKey(state.getMeta(COORDINATOR_KEY))
    /** Peers the coordinator revoked (pushed over the control channel): their tokens are refused. */
    const revokedPeers = new Set<string>()
    const gateway: ServedHandler = await serveHandler(
      withStorageProofs(
        createNodeGateway({
          source: repo.blocks,
          identity,
          coordinatorKey: () => coordinatorKey,
          isRevoked: (subject) => revokedPeers.has(subject),
          access: config.gatewayAccess,
        }),
        { source: repo.blocks, coordinatorKey: () => coordinatorKey, nodeId: identity.id },
      ),
      { host: config.listen.host, port: config.listen.port },
    )
    closers.push(() => gateway.close({ drainMs: config.drainMs }))
    const gatewayUrl = config.advertiseUrl ?? gateway.url

    const statusOutbox = new StatusOutbox({ store: state, send: (message) => control.send(message) })
    closers.push(() => statusOutbox.stop())
    const limiter = config.bandwidth === undefined ? undefined : createBandwidthLimiter(config.bandwidth)
    const coordinatorUrls = config.join.map(coordinatorBaseUrl)
    const worker = createRepoWorker({
      repo,
      fetchDag: options.fetchDag ?? fetchDag,
      locate: (cid) => control.locate(cid),
      fallbackSources: () => coordinatorUrls,
      peerToken: () => control.peerToken,
      selfUrl: gatewayUrl,
      ...(limiter ? { limiter } : {}),
      logger: log('worker'),
    })
    closers.push(() => worker.close())
    const executor = new Executor({
      store: state,
      worker,
      onStatus: () => statusOutbox.changed(),
      logger: log('executor'),
      chunkSize: config.chunkSize,
      concurrency: config.concurrency,
    })
    closers.push(() => executor.stop())

    const antiEntropy = new AntiEntropy({
      repo,
      send: (message) => control.send(message),
      enqueue: (requests) => executor.enqueue(requests),
      restate: (held, lacking) => executor.restate(held, lacking),
      logger: log('sync'),
    })
    repairer = new Repairer({
      repo,
      enqueue: (requests) => executor.enqueue(requests),
      logger: log('repair'),
      intervalMs: config.repairIntervalMs,
      ...(config.repairBandwidth > 0 ? { throttle: () => createBandwidthLimiter(config.repairBandwidth) } : {}),
    })
    closers.push(() => repairer.stop())

    const flushOutbox = () => {
      for (const { id, message } of state.outboxList(1000)) {
        if (!control.send(message as Exclude<NodeMessage, { type: 'join' }>)) return
        state.outboxDelete(id)
      }
    }
    const dropFolder = new DropFolder({
      repo,
      logger: log('ingest'),
      pollIntervalMs: config.ingestPollMs,
      onIngested(file: IngestedFile) {
        const message: NodeMessage = { type: 'ingested', ...file }
        if (config.ingestAccount !== undefined) message.account = config.ingestAccount
        state.outboxAdd(message)
        flushOutbox()
      },
    })
    closers.push(() => dropFolder.stop())

    const control: ControlClient = new ControlClient({
      urls: config.join,
      secret: config.secret,
      identity,
      name: config.name || identity.id,
      version: NODE_VERSION,
      tags: config.tags,
      gatewayUrl,
      logger: log('control'),
      reportIntervalMs: config.reportIntervalMs,
      reconnectMaxMs: config.reconnectMaxMs,
      handlers: {
        cursor: () => Number(state.getMeta(CURSOR_KEY) ?? 0),
        applyChanges(changes, seq) {
          executor.enqueue(
            changes.map((c) => ({ cid: c.cid, action: c.action })),
            { [CURSOR_KEY]: String(seq) },
          )
        },
        resetCursor: (latestSeq) => state.setMeta(CURSOR_KEY, String(latestSeq)),
        onSyncRequest(reason) {
          antiEntropy.request(reason).catch((err: unknown) => logger.error({ err }, 'anti-entropy failed'))
        },
        onSync: (message) => antiEntropy.onSync(message),
        async report() {
          const stat = await repo.stat()
          const counts = executor.stats()
          return {
            storage: stat.storage.map((p) => ({
              id: p.id,
              weight: p.weight,
              maxSize: p.maxSize,
              used: p.used,
              available: p.available,
            })),
            pins: stat.pins,
            queued: counts.queued + counts.pinning + counts.unpinning,
            failed: counts.failed,
            version: NODE_VERSION,
            gatewayUrl,
          }
        },
        onRevokedPeers(nodeIds) {
          for (const id of nodeIds) revokedPeers.add(id)
        },
        onWelcome(welcome) {
          const key = Buffer.from(welcome.coordinatorKey, 'base64')
          coordinatorKey = new Uint8Array(key)
          state.setMeta(COORDINATOR_KEY, key.toString('base64'))
          statusOutbox.flush()
          flushOutbox()
        },
        onStatusAck: (id) => statusOutbox.acked(id),
        onDisconnect() {
          statusOutbox.disconnected()
          antiEntropy.abandon()
        },
      },
    })
    closers.push(() => control.stop())

    executor.start()
    control.start()
    repairer.start()
    await dropFolder.start()
    logger.info({ nodeId: identity.id, gatewayUrl, repo: repo.dir, join: config.join }, 'storage node started')

    let closing: Promise<void> | undefined
    return {
      nodeId: identity.id,
      gatewayUrl,
      repo,
      control,
      executor,
      state,
      antiEntropy,
      repairer,
      dropFolder,
      close: () => {
        closing ??= closeAll()
        return closing
      },
    }
  } catch (err) {
    await closeAll()
    throw err
  }
}

function decodeKey(text: string | undefined): Uint8Array | undefined {
  if (text === undefined) return undefined
  const key = new Uint8Array(Buffer.from(text, 'base64'))
  return key.length === 32 ? key : undefined
}

/** Opens the repo, creating it on first start, and attaches/updates the configured storage paths. */
async function openOrInitRepo(config: NodeConfig, logger: Logger, onCorruptBlock: (cid: CID) => void): Promise<Repo> {
  const exists = await access(join(config.repo, 'config.json')).then(
    () => true,
    () => false,
  )
  const [first] = config.storagePaths
  if (!exists) await initRepo(config.repo, first ? { storagePath: resolve(config.repo, first.dir) } : {})
  const repo = await openRepo(config.repo, { logger, onCorruptBlock })
  try {
    const attached = await repo.storage.list()
    for (const spec of config.storagePaths) {
      const dir = resolve(config.repo, spec.dir)
      const current = attached.find((p) => resolve(p.dir) === dir)
      const settings: { maxSize?: number; weight?: number } = {}
      if (spec.maxSize !== undefined) settings.maxSize = spec.maxSize
      if (spec.weight !== undefined) settings.weight = spec.weight
      if (current === undefined) await repo.storage.add(dir, settings)
      else if (
        (settings.maxSize !== undefined && settings.maxSize !== current.maxSize) ||
        (settings.weight !== undefined && settings.weight !== current.weight)
      ) {
        await repo.storage.set(current.id, settings)
      }
    }
  } catch (err) {
    await repo.close()
    throw err
  }
  return repo
}
