import type { Command } from 'commander'
import { sessionClient } from '../client/api-client.ts'
import type { CliContext } from '../cli-context.ts'

/** `pinfold sync [--node ID]` (admin): anti-entropy with one node or every connected node, now. */
export function registerSync(program: Command, ctx: CliContext): void {
  program
    .command('sync')
    .description('compare pinsets with storage nodes now (anti-entropy; admin)')
    .option('--node <id>', 'only this node (default: every connected node)')
    .option('--json', 'print as JSON')
    .action(async (flags: { node?: string; json?: boolean }) => {
      const client = await sessionClient(ctx.io.env)
      const path = flags.node === undefined ? '/api/v1/sync' : `/api/v1/nodes/${encodeURIComponent(flags.node)}/sync`
      const result = await client.json<{ requested: number }>('POST', path)
      if (flags.json) return ctx.printJson(result)
      ctx.print(
        result.requested === 0
          ? 'no connected storage node to sync with'
          : `anti-entropy requested with ${result.requested} node${result.requested === 1 ? '' : 's'}; differences are pinned or unpinned as they are found`,
      )
    })
}
