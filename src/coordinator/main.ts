import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { CID } from 'multiformats/cid'
import { pino, type Logger } from 'pino'
import { openRegistry, type Registry } from '../registry/index.ts'
import { initRepo, openRepo, type Repo } from '../repo/index.ts'
import { createAuthenticator } from './auth/authenticator.ts'
import { createTokenService } from './auth/token-service.ts'
import { createBillingService } from './billing/index.ts'
import { type AdminCredentials, bootstrapAdmin } from './bootstrap-admin.ts'
import { ClusterService, loadOrCreateCoordinatorKey, resolveClusterSecret } from './cluster/index.ts'
import type { CoordinatorComponents } from './components.ts'
import type { CoordinatorConfig } from './config/config-schema.ts'
import { createEventHub } from './events/event-hub.ts'
import { createContentReleaser } from './files/release-content.ts'
import { buildCoordinatorApp, type CoordinatorApp } from './http/build-app.ts'
import { createCoordinatorMetrics } from './metrics/coordinator-metrics.ts'
import { resolveTokenSecret } from './token-secret.ts'
import { createConcurrencyLimiter } from './limits/index.ts'
import { startUploadExpiry } from './uploads/expire-uploads.ts'
import { recoverUploads } from './uploads/recover-uploads.ts'
import { createUploadService } from './uploads/upload-service.ts'
import { createUsageMeter } from './usage/index.ts'

export interface RunningCoordinator {
  /** Base URL it listens on, e.g. http://127.0.0.1:8080 */
  url: string
  components: CoordinatorComponents
  app: CoordinatorApp
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
  await mkdir(dataDir, { recursive: true })
  const opened: { close(): Promise<void> }[] = []
  try {
    const metrics = createCoordinatorMetrics()
    const registry = await openRegistry(config.db ?? `sqlite:${join(dataDir, 'registry.sqlite')}`, {
      logger: logger.child({ component: 'coordinator:registry' }),
      onQuery: (durationMs) => metrics.registryQueries.observe(durationMs / 1000),
    })
    opened.push(registry)
    const repo = await openOriginRepo(resolve(config.repo ?? join(dataDir, 'repo')), logger)
    opened.push(repo)
    const tokens = createTokenService({
      secret: await resolveTokenSecret(config.auth.tokenSecret, dataDir),
      ttlSeconds: config.auth.tokenTtlSeconds,
    })
    const events = createEventHub()
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
    await recoverUploads(registry, uploads, logger.child({ component: 'coordinator:uploads' }))
    opened.push(uploads)
    opened.push(startUploadExpiry(uploads, logger.child({ component: 'coordinator:uploads' }), { expiryMs: config.limits.uploadExpirySeconds * 1000 }))
    const clusterSecret = await resolveClusterSecret(config.cluster.secret, dataDir)
    const cluster = new ClusterService({
      registry,
      logger: logger.child({ component: 'coordinator:cluster' }),
      secret: clusterSecret.secret,
      coordinatorKey: await loadOrCreateCoordinatorKey(dataDir),
      nodeDownAfterSeconds: config.cluster.nodeDownAfterSeconds,
      reallocateAfterSeconds: config.cluster.reallocateAfterSeconds,
      syncSchedule: config.cluster.syncSchedule,
      failureDomainTag: config.cluster.failureDomainTag,
      peerTokenTtlSeconds: config.cluster.peerTokenTtlSeconds,
      reconcileIntervalSeconds: config.cluster.reconcileIntervalSeconds,
      originHas: (cid) => repo.blocks.has(CID.parse(cid)),
      defaultReplication: { min: config.cluster.defaultReplicationMin, max: config.cluster.defaultReplicationMax },
      ingestAccountEmail: config.admin.email,
      events,
    })
    opened.push(cluster)
    const components: CoordinatorComponents = {
      config,
      logger,
      registry,
      repo,
      tokens,
      authenticate: createAuthenticator(tokens),
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
      releaseContent: createContentReleaser({ registry, repo, logger: logger.child({ component: 'coordinator:release' }) }),
      cluster,
      events,
      heavyReads: createConcurrencyLimiter(config.limits.heavyReadsPerAccount),
    }
    opened.push(components.usage)
    opened.push(components.releaseContent)
    registerStateGauges(components)
    const adminCredentials = await bootstrapAdmin(registry, config.admin.email)
    const app = await buildCoordinatorApp(components)
    const [host, port] = splitListen(config.listen)
    await app.listen({ host, port })
    const address = app.server.address()
    const url = `http://${host}:${typeof address === 'object' && address ? address.port : port}`
    logger.info({ url }, 'coordinator listening')
    components.usage.start()
    cluster.setBaseUrl(config.publicUrl ?? url)
    cluster.start()
    return {
      url,
      components,
      app,
      adminCredentials,
      generatedClusterSecret: clusterSecret.generated ? clusterSecret.secret : undefined,
      clusterSecret: clusterSecret.secret,
      async close() {
        await app.close()
        await closeAll(opened)
      },
    }
  } catch (error) {
    await closeAll(opened)
    throw error
  }
}

async function openOriginRepo(dir: string, logger: Logger): Promise<Repo> {
  await initRepo(dir).catch((error: { code?: string }) => {
    if (error.code !== 'ERR_REPO_EXISTS') throw error
  })
  return openRepo(dir, { logger: logger.child({ component: 'coordinator:repo' }) })
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
  metrics.gauge('pinfold_pins_under_replicated', 'pins below their minimum copies (as of the last reconcile pass)', () => cluster.underReplicated().length)
}

function splitListen(listen: string): [string, number] {
  const at = listen.lastIndexOf(':')
  return [listen.slice(0, at), Number(listen.slice(at + 1))]
}

async function closeAll(resources: { close(): Promise<void> }[]): Promise<void> {
  for (const resource of resources.reverse()) await resource.close().catch(() => undefined)
}
