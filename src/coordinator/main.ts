import { randomUUID } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { CID } from 'multiformats/cid'
import { pino, type Logger } from 'pino'
import { openNotifications, openRegistry, type Registry } from '../registry/index.ts'
import { initRepo, openRepo, type Repo } from '../repo/index.ts'
import { createAuthenticator } from './auth/authenticator.ts'
import { createGuessLimiter } from './auth/guess-limiter.ts'
import { createRevocationCheck } from './auth/revocation-check.ts'
import { createTokenService } from './auth/token-service.ts'
import { createBillingService } from './billing/index.ts'
import { type AdminCredentials, bootstrapAdmin } from './bootstrap-admin.ts'
import { readSecretFile } from '../cluster/index.ts'
import {
  ClusterService,
  createIngestVerifier,
  createStorageProver,
  type LeaderElection,
  postgresLeaderElection,
  soleLeader,
} from './cluster/index.ts'
import { createContentSource } from './content-source/index.ts'
import { cidForms } from './files/cid-forms.ts'
import type { CoordinatorComponents } from './components.ts'
import type { CoordinatorConfig } from './config/config-schema.ts'
import { InvalidConfigError } from './config/load-config.ts'
import { createEventHub } from './events/event-hub.ts'
import { replicateEvents } from './events/replicated-event-hub.ts'
import { createContentReleaser } from './files/release-content.ts'
import { replicateReleases } from './files/replicated-release.ts'
import { GatewayOrigin, listenGateway } from './gateway/index.ts'
import { buildCoordinatorApp, type CoordinatorApp } from './http/build-app.ts'
import { closeAppWithDrain } from './http/close-app.ts'
import { createCoordinatorMetrics } from './metrics/coordinator-metrics.ts'
import { OriginRepairer } from './repair/index.ts'
import { createConcurrencyLimiter } from './limits/index.ts'
import { createReplicaLease } from './replica-lease.ts'
import { StagingReleaser } from './staging/index.ts'
import { resolveCoordinatorSecrets } from './shared-secrets.ts'
import { failOrphanedUploads, recoverUploads } from './uploads/recover-uploads.ts'
import { startUploadExpiry } from './uploads/expire-uploads.ts'
import { createUploadService } from './uploads/upload-service.ts'
import { createUsageMeter } from './usage/index.ts'

export interface RunningCoordinator {
  /** Base URL it listens on, e.g. http://127.0.0.1:8080 */
  url: string
  components: CoordinatorComponents
  app: CoordinatorApp
  /** The separate gateway listener's URL (`gateway.listen`), when configured. */
  gatewayUrl?: string
  /** Set on the very first start only: show once, never stored in plain text. */
  adminCredentials?: AdminCredentials
  /** Set on the start that generated the cluster secret (none configured): show once so nodes can join. */
  generatedClusterSecret?: string
  /** The cluster secret in effect (configured or stored in the data dir): an embedded node joins with it. */
  clusterSecret: string
  close(): Promise<void>
}

/**
 * The coordinator's composition root: builds every component from a validated config,
 * wires them, and starts listening. The only place that knows how the parts fit.
 */
export async function startCoordinator(
  config: CoordinatorConfig,
  options: { logger?: Logger } = {},
): Promise<RunningCoordinator> {
  const logger = options.logger ?? pino({ level: config.logLevel })
  const dataDir = resolve(config.dataDir)
  await mkdir(dataDir, { recursive: true }).catch((error: NodeJS.ErrnoException) => {
    throw new InvalidConfigError([`dataDir ${dataDir}: cannot create the directory (${error.code})`])
  })
  const opened: { close(): Promise<void> }[] = []
  try {
    const metrics = createCoordinatorMetrics()
    const replicaId = randomUUID()
    /** Where nodes and other replicas reach this one (`publicUrl`, else the listen URL); set once listening. */
    let selfUrl: string | undefined
    const registryUrl = config.db ?? `sqlite:${join(dataDir, 'registry.sqlite')}`
    const registry = await openRegistry(registryUrl, {
      logger: logger.child({ component: 'coordinator:registry' }),
      onQuery: (durationMs) => metrics.registryQueries.observe(durationMs / 1000),
      waitForDatabaseMs: config.dbStartTimeoutSeconds * 1000,
      replicaId,
      stagingUrl: () => selfUrl,
    })
    opened.push(registry)
    const lease = createReplicaLease(registry, replicaId, logger.child({ component: 'coordinator:replica' }))
    opened.push(lease)
    const leadership = electLeader(registry, registryUrl, logger)
    opened.push(leadership)
    const notifications = openNotifications(registryUrl, registry.db, logger.child({ component: 'coordinator:notifications' }))
    opened.push(notifications)
    // a read that meets a corrupt block repairs it from the nodes at once (repairer built below)
    let originRepair: OriginRepairer | undefined
    // a copy newly pinned on a node may let the staged copy go (the releaser is built below)
    let staging: StagingReleaser | undefined
    const repo = await openOriginRepo(resolve(config.repo ?? join(dataDir, 'repo')), logger, (cid) => originRepair?.repairBlock(cid))
    opened.push(repo)
    const revocations = createRevocationCheck({
      revocations: registry.tokenRevocations,
      cacheSeconds: config.auth.revocationCheckSeconds,
      logger: logger.child({ component: 'coordinator:auth' }),
    })
    const secrets = await resolveCoordinatorSecrets(
      registry,
      {
        tokenSecret: config.auth.tokenSecret ?? fromFile(config.auth.tokenSecretFile, 'auth.tokenSecret', 32),
        clusterSecret: config.cluster.secret ?? fromFile(config.cluster.secretFile, 'cluster.secret', 16),
      },
      dataDir,
    )
    const clusterSecret = secrets.clusterSecret
    const tokens = createTokenService({ secret: secrets.tokenSecret, ttlSeconds: config.auth.tokenTtlSeconds, revocations })
    const events = replicateEvents(createEventHub(), notifications, logger.child({ component: 'coordinator:events' }))
    opened.push(events)
    const uploads = createUploadService({
      events,
      registry,
      repo,
      metrics,
      logger,
      maxUploadBytes: config.limits.maxUploadBytes,
      maxOpenUploads: config.limits.maxOpenUploadsPerAccount,
      uploadsDir: join(dataDir, 'uploads'),
      pin: { replicationMin: config.cluster.defaultReplicationMin, replicationMax: config.cluster.defaultReplicationMax },
    })
    const uploadsLog = logger.child({ component: 'coordinator:uploads' })
    // uploads of a replica that died while receiving them are failed once its lease expires
    await lease.start(() => failOrphanedUploads(registry, uploads, uploadsLog))
    // SQLite has one coordinator (the origin repo's lock): whatever leases remain are a crashed predecessor's
    if (registry.dialect === 'sqlite') await registry.replicas.removeOthers(replicaId)
    await recoverUploads(registry, uploads, uploadsLog)
    opened.push(uploads)
    opened.push(startUploadExpiry(uploads, uploadsLog, { expiryMs: config.limits.uploadExpirySeconds * 1000 }))
    const cluster = new ClusterService({
      registry,
      logger: logger.child({ component: 'coordinator:cluster' }),
      secret: clusterSecret.secret,
      coordinatorKey: secrets.coordinatorKey,
      nodeDownAfterSeconds: config.cluster.nodeDownAfterSeconds,
      reallocateAfterSeconds: config.cluster.reallocateAfterSeconds,
      syncSchedule: config.cluster.syncSchedule,
      failureDomainTag: config.cluster.failureDomainTag,
      peerTokenTtlSeconds: config.cluster.peerTokenTtlSeconds,
      reconcileIntervalSeconds: config.cluster.reconcileIntervalSeconds,
      maxAttempts: config.cluster.maxAttemptsBeforeMove,
      originHas: (cid) => repo.blocks.has(CID.parse(cid)),
      defaultReplication: { min: config.cluster.defaultReplicationMin, max: config.cluster.defaultReplicationMax },
      verifyIngest: createIngestVerifier(repo),
      events,
      isLeader: () => leadership.isLeader,
      onPinned: (cid) => staging?.pinned(cid),
      notifications,
    })
    opened.push(cluster)
    originRepair = new OriginRepairer({
      repo,
      cluster,
      selfUrl: () => selfUrl,
      metrics,
      logger: logger.child({ component: 'coordinator:repair' }),
      scrubIntervalMs: config.cluster.scrubIntervalSeconds * 1000,
      scrubBytesPerSecond: config.cluster.scrubBytesPerSecond,
    })
    opened.push(originRepair)
    const peerToken = (url: string) => cluster.selfTokenFor(url)
    const content = createContentSource({
      local: repo.blocks,
      holders: async (root) => {
        const self = selfUrl?.replace(/\/+$/, '')
        const { sources } = await cluster.locate(cidForms(root))
        return [...new Set(sources.flatMap((l) => l.urls))].filter((url) => url !== self)
      },
      peerToken,
      logger: logger.child({ component: 'coordinator:content' }),
    })
    const releaseContent = replicateReleases(
      createContentReleaser({ registry, repo, logger: logger.child({ component: 'coordinator:release' }) }),
      notifications,
      replicaId,
      logger.child({ component: 'coordinator:release' }),
    )
    staging = new StagingReleaser({
      repo,
      registry,
      cluster,
      prover: createStorageProver({ blocks: content, peerToken, metrics, logger: logger.child({ component: 'coordinator:storage-proof' }) }),
      releaseContent,
      mode: config.cluster.stagingRelease,
      logger: logger.child({ component: 'coordinator:staging' }),
      auditIntervalMs: config.cluster.storageProofIntervalSeconds * 1000,
    })
    const components: CoordinatorComponents = {
      config,
      logger,
      registry,
      repo,
      content,
      tokens,
      revocations,
      authenticate: createAuthenticator(tokens),
      passwordGuesses: createGuessLimiter({
        maxFailures: config.auth.passwordFailuresPerAccount,
        windowSeconds: config.auth.passwordFailureWindowSeconds,
        what: 'password attempts for this account',
      }),
      metrics,
      uploads,
      usage: createUsageMeter({
        registry,
        metrics,
        logger: logger.child({ component: 'coordinator:usage' }),
        sampleIntervalMs: config.billing.sampleIntervalSeconds * 1000,
        flushIntervalMs: config.billing.requestFlushSeconds * 1000,
      }),
      billing: createBillingService(registry, config.billing),
      releaseContent,
      cluster,
      events,
      gatewayOrigin: new GatewayOrigin({ portalUrl: config.publicUrl, gatewayUrl: config.gateway.publicUrl, subdomains: config.gateway.subdomains }),
      heavyReads: createConcurrencyLimiter(config.limits.heavyReadsPerAccount),
    }
    opened.push(components.usage)
    opened.push(components.releaseContent)
    opened.push(staging)
    registerStateGauges(components)
    const adminCredentials = await bootstrapAdmin(registry, config.admin.email)
    const app = await buildCoordinatorApp(components)
    const [host, port] = splitListen(config.listen)
    await app.listen({ host, port })
    const address = app.server.address()
    const url = `http://${host}:${typeof address === 'object' && address ? address.port : port}`
    logger.info({ url }, 'coordinator listening')
    const gateway = config.gateway.listen === undefined ? undefined : await listenGateway(app, components.gatewayOrigin, config.gateway.listen)
    if (gateway !== undefined) opened.push(gateway)
    components.gatewayOrigin.setListenUrls(url, gateway?.url)
    components.usage.start()
    selfUrl = (config.publicUrl ?? url).replace(/\/+$/, '')
    cluster.setBaseUrl(selfUrl)
    await lease.setUrl(selfUrl)
    leadership.start()
    notifications.start()
    cluster.start()
    originRepair.start()
    staging.start()
    return {
      url,
      components,
      app,
      adminCredentials,
      generatedClusterSecret: clusterSecret.generated ? clusterSecret.secret : undefined,
      clusterSecret: clusterSecret.secret,
      gatewayUrl: gateway?.url,
      async close() {
        await gateway?.close()
        await closeAppWithDrain(app, config.shutdownDrainSeconds * 1000, logger.child({ component: 'coordinator:http' }))
        await closeAll(opened)
      },
    }
  } catch (error) {
    await closeAll(opened)
    throw error
  }
}

async function openOriginRepo(dir: string, logger: Logger, onCorruptBlock: (cid: CID) => void): Promise<Repo> {
  await initRepo(dir).catch((error: { code?: string }) => {
    if (error.code !== 'ERR_REPO_EXISTS') throw error
  })
  return openRepo(dir, { logger: logger.child({ component: 'coordinator:repo' }), onCorruptBlock })
}

function registerStateGauges({
  metrics,
  registry,
  cluster,
}: { metrics: CoordinatorComponents['metrics']; registry: Registry; cluster: ClusterService }): void {
  metrics.gauge('pinfold_pins', 'pins in the registry', () => registry.pins.count())
  metrics.gauge('pinfold_uploads_in_progress', 'uploads not yet done or failed', () => registry.uploads.countActive())
  const nodesWith = async (status: string) => (await cluster.listNodes()).filter((n) => n.status === status).length
  metrics.gauge('pinfold_storage_nodes_online', 'storage nodes reporting', () => nodesWith('online'))
  metrics.gauge('pinfold_storage_nodes_down', 'storage nodes silent past cluster.nodeDownAfterSeconds (not revoked)', () => nodesWith('down'))
  metrics.gauge('pinfold_coordinator_leader', '1 while this replica runs placement and reconcile passes (one per registry)', () => (cluster.leader ? 1 : 0))
  metrics.gauge('pinfold_pins_under_replicated', 'pins below their minimum copies (as of the last reconcile pass)', () => cluster.underReplicated().length)
}

/** One replica at a time runs the cluster-wide passes: with PostgreSQL the holder of an advisory lock. */
function electLeader(registry: Registry, url: string, logger: Logger): LeaderElection {
  if (registry.dialect === 'sqlite') return soleLeader()
  return postgresLeaderElection(url, { logger: logger.child({ component: 'coordinator:leader' }) })
}

/** A secret configured as a file name (`…SecretFile`), read at start. */
function fromFile(path: string | undefined, what: string, minLength: number): string | undefined {
  return path === undefined ? undefined : readSecretFile(path, what, minLength)
}

function splitListen(listen: string): [string, number] {
  const at = listen.lastIndexOf(':')
  return [listen.slice(0, at), Number(listen.slice(at + 1))]
}

async function closeAll(resources: { close(): Promise<void> }[]): Promise<void> {
  for (const resource of resources.reverse()) await resource.close().catch(() => undefined)
}
