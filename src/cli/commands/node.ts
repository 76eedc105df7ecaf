import type { Command } from 'commander'
import { type NodeConfigInput, resolveNodeConfig, startNode } from '../../node/index.ts'
import type { CliContext } from '../cli-context.ts'
import { installCrashGuard } from '../crash-guard.ts'
import { waitForStopSignal } from '../wait-for-stop.ts'

const collect = (value: string, previous: string[] = []) => [...previous, value]

/** `pinfold node --join URL --secret S …`: runs a storage node until SIGINT/SIGTERM. */
export function registerNode(program: Command, ctx: CliContext): void {
  program
    .command('node')
    .description('run a storage node that joins a coordinator')
    .option('--join <url>', 'coordinator URL, e.g. http://10.0.0.1:8080; repeatable or comma-separated (replicas, tried in turn)', collect)
    .option('--secret <secret>', 'cluster secret (visible in ps: prefer --secret-file or $PINFOLD_CLUSTER_SECRET)')
    .option('--secret-file <file>', 'file holding the cluster secret (default: $PINFOLD_CLUSTER_SECRET_FILE)')
    .option('--repo <dir>', 'node repository directory (default ./pinfold-node)')
    .option('--storage-path <dir[:max][:weight]>', 'storage path, repeatable (max e.g. 500GB, 0 = unlimited; weight 0 = read-only)', collect)
    .option('--tag <key=value>', 'node tag, repeatable (e.g. region=eu)', collect)
    .option('--listen <host:port>', 'peer gateway address (default 127.0.0.1:0, any free port)')
    .option('--advertise <url>', 'URL peers reach the gateway at (default: from --listen)')
    .option('--gateway-access <mode>', 'who may read /ipfs/ here: peer (cluster peers and share links, default) or public')
    .option('--bandwidth <rate>', 'replication bandwidth cap, e.g. 50MB/s')
    .option('--name <name>', 'display name (default: the node id)')
    .option('--ingest-account <email>', 'account that drop-folder files are registered for')
    .option('--chunk-size <n>', 'executor: queue items loaded at a time (default 10000)')
    .option('--concurrency <n>', 'executor: pins at once (default 4)')
    .option('--repair-interval <duration>', 'verify and repair every … (default 1h, 0 = on demand only)')
    .option('--repair-bandwidth <rate>', 'read rate cap of a repair run, e.g. 50MB/s (default 100MB/s, 0 = none)')
    .option('--report-interval <duration>', 'capacity report every … (default 5s)')
    .option('--ingest-poll <duration>', 'drop-folder poll interval (default 2s)')
    .option('--drain-time <duration>', 'at SIGTERM/SIGINT, how long peer requests in flight may finish (default 10s)')
    .option('--reconnect-max <duration>', 'longest wait between reconnects to the coordinator (default 30s)')
    .action(async (flags: NodeConfigInput) => {
      // the global --repo (before `node`) also names the node repo when given
      const repo = flags.repo ?? program.opts<{ repo?: string }>().repo
      const config = resolveNodeConfig({ ...flags, ...(repo === undefined ? {} : { repo }) }, ctx.io.env)
      // the repo's blocks, index and identity are the node's alone, whatever umask it inherited
      process.umask(0o077)
      const node = await startNode(config)
      installCrashGuard({ logLevel: config.logLevel })
      // printed last: scripts and tests wait for this line
      ctx.print(`Pinfold node ${node.nodeId} serving /ipfs/ on ${node.gatewayUrl}, joining ${config.join.join(',')}`)
      await waitForStopSignal()
      await node.close()
    })
}
