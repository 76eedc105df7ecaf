import type { Command } from 'commander'
import { formatBytes } from '../../core/units.ts'
import type { CliContext } from '../cli-context.ts'

export function registerGc(program: Command, ctx: CliContext): void {
  program
    .command('gc')
    .description('remove blocks that no pin reaches')
    .option('--json', 'print the result as JSON')
    .action(async (flags: { json?: boolean }) => {
      const result = await ctx.withRepo((repo) => repo.gc())
      if (flags.json) ctx.printJson(result)
      else ctx.print(`removed ${result.removedBlocks} block(s), ${formatBytes(result.removedBytes)}`)
    })
}
