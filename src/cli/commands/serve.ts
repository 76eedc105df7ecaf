import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import type { CoordinatorConfig } from '../../coordinator/config/config-schema.ts'
import type { RunningCoordinator } from '../../coordinator/main.ts'
import { loadCoordinatorConfig } from '../../coordinator/config/load-config.ts'
import { redactConfig } from '../../coordinator/config/redact-config.ts'
import type { CliContext } from '../cli-context.ts'
import { installCrashGuard } from '../crash-guard.ts'
import { waitForStopSignal } from '../wait-for-stop.ts'

interface ServeFlags {
  config?: string
  listen?: string
  db?: string
  repo?: string
  dataDir?: string
}

const withServeOptions = (command: Command) =>
  command
    .option('--config <file>', 'JSON config file (default: $PINFOLD_CONFIG)')
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:8080)')
    .option('--db <url>', 'registry: sqlite:PATH or postgres://…')
    .option('--repo <dir>', 'origin repository directory')
    .option('--data-dir <dir>', 'where state lives by default (default ./pinfold-data)')

function configFrom(flags: ServeFlags, ctx: CliContext): Promise<CoordinatorConfig> {
  return loadCoordinatorConfig({
    file: flags.config ?? ctx.io.env.PINFOLD_CONFIG,
    env: ctx.io.env,
    flags: { listen: flags.listen, db: flags.db, repo: flags.repo, dataDir: flags.dataDir },
  })
}

/**
 * `serve` runs the coordinator; `start` is the newcomer's one command with embedded
 * defaults: the coordinator and one storage node in the same process (repo
 * `<dataDir>/node`, peer gateway on 127.0.0.1, joined with the cluster secret).
 */
export function registerServe(program: Command, ctx: CliContext): void {
  // commander gives `--repo` to the program's global option wherever it appears on the
  // line, so the command's own flag is never set: for these commands it names the origin repo
  const withGlobalRepo = (flags: ServeFlags): ServeFlags => ({ ...flags, repo: flags.repo ?? program.opts<{ repo?: string }>().repo })
  withServeOptions(program.command('serve').description('run the coordinator')).action((flags: ServeFlags) =>
    runCoordinator(withGlobalRepo(flags), ctx),
  )
  withServeOptions(
    program.command('start').description('run Pinfold with embedded defaults (SQLite and data under ./pinfold-data)'),
  ).action((flags: ServeFlags) => runCoordinator(withGlobalRepo(flags), ctx, { embeddedNode: true }))
  const config = program.command('config').description('configuration')
  withServeOptions(config.command('show').description('print the effective configuration, secrets redacted')).action(
    async (flags: ServeFlags) => {
      for (const line of JSON.stringify(redactConfig(await configFrom(withGlobalRepo(flags), ctx)), null, 2).split('\n')) ctx.print(line)
    },
  )
}

async function runCoordinator(flags: ServeFlags, ctx: CliContext, options: { embeddedNode?: boolean } = {}): Promise<void> {
  const config = await configFrom(flags, ctx)
  // registry, repo, uploads, keys and secrets are the coordinator's alone (0600 files,
  // 0700 directories), whatever umask it inherited
  process.umask(0o077)
  // loaded on demand: the HTTP stack is not needed by the other commands' start-up
  const { startCoordinator } = await import('../../coordinator/main.ts')
  const running = await startCoordinator(config)
  installCrashGuard({ logLevel: config.logLevel, onFault: (kind) => running.components.metrics.processFaults.inc({ kind }) })
  let node: Awaited<ReturnType<typeof startEmbeddedNode>> | undefined
  try {
    if (options.embeddedNode) {
      node = await startEmbeddedNode(config, running.url, running.clusterSecret, ctx)
      void assignEmbeddedIngest(running, node.nodeId, config.admin.email)
    }
  } catch (error) {
    await running.close()
    throw error
  }
  if (running.adminCredentials) {
    const { email, password, apiKey } = running.adminCredentials
    ctx.print('')
    ctx.print('First start: an admin account was created. These are shown once — keep them:')
    ctx.print(`  email:    ${email}`)
    ctx.print(`  password: ${password}`)
    ctx.print(`  API key:  ${apiKey}`)
    ctx.print('')
    ctx.print(`  token:    curl -s -X POST ${running.url}/api/v1/auth/token -H 'content-type: application/json' -d '{"apiKey":"${apiKey}"}'`)
    ctx.print('')
  }
  if (running.generatedClusterSecret) {
    ctx.print('First start: a cluster secret was generated (stored in the registry: every coordinator on it shares it).')
    ctx.print(`  storage nodes join with: pinfold node --join ${running.url} --secret ${running.generatedClusterSecret}`)
    ctx.print('')
  }
  if (node) ctx.print(`Embedded storage node ${node.nodeId} serving /ipfs/ on ${node.gatewayUrl} (repo ${node.repo.dir})`)
  if (running.gatewayUrl) ctx.print(`Content gateway (its own origin) at ${running.gatewayUrl}/ipfs/`)
  // printed last: scripts and tests wait for this line
  ctx.print(`Pinfold coordinator listening on ${running.url}`)
  ctx.print(`  portal and API: ${running.url}/   OpenAPI: ${running.url}/api/v1/openapi.json`)
  await waitForStopSignal()
  // the node first: it reports to the coordinator until it is gone
  await node?.close()
  await running.close()
}

/**
 * One storage node beside the coordinator: joins over loopback (`ws://127.0.0.1:<port>`
 * when the coordinator listens on every address or on loopback, its own host otherwise),
 * repo `<dataDir>/node`, peer gateway on 127.0.0.1 with a free port.
 */
/**
 * The embedded node runs in this very process, so its drop folder feeds the admin account
 * without an admin's `PATCH /api/v1/nodes/{id}` (required for every remote node). Its
 * registry record appears once it has joined, which happens just after start.
 */
async function assignEmbeddedIngest(running: RunningCoordinator, nodeId: string, adminEmail: string): Promise<void> {
  const { registry, cluster, logger } = running.components
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const admin = await registry.accounts.getByEmail(adminEmail).catch(() => undefined)
    const joined = await registry.nodes.get(nodeId).catch(() => undefined)
    if (admin && joined) {
      if (joined.ingestAccountId === null) await cluster.setIngestAccount(nodeId, admin.id)
      return
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  logger.warn({ nodeId }, 'the embedded node did not join within 60 s: its drop folder has no ingest account')
}

async function startEmbeddedNode(config: CoordinatorConfig, coordinatorUrl: string, secret: string, ctx: CliContext) {
  const { resolveNodeConfig, startNode } = await import('../../node/index.ts')
  const url = new URL(coordinatorUrl)
  const host = ['0.0.0.0', '[::]', '::', ''].includes(url.hostname) ? '127.0.0.1' : url.hostname
  const nodeConfig = resolveNodeConfig(
    {
      join: `ws://${host}:${url.port}`,
      secret,
      repo: join(resolve(config.dataDir), 'node'),
      listen: '127.0.0.1:0',
      name: 'embedded',
      logLevel: config.logLevel,
      drainTime: `${config.shutdownDrainSeconds}s`,
    },
    ctx.io.env,
  )
  return startNode(nodeConfig)
}
