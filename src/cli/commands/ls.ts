import type { Command } from 'commander'
import { ls } from '../../core/index.ts'
import type { CliContext } from '../cli-context.ts'

export function registerLs(program: Command, ctx: CliContext): void {
  program
    .command('ls')
    .description('list the entries of a directory')
    .argument('<cid-path>', 'CID, optionally followed by /path inside the DAG')
    .option('--json', 'one JSON object per entry')
    .action(async (cidPath: string, flags: { json?: boolean }) => {
      await ctx.withRepo(async (repo) => {
        for await (const entry of ls(repo.blocks, cidPath)) {
          if (flags.json) {
            ctx.printJson({ name: entry.name, cid: entry.cid, size: entry.size, type: entry.type, mtime: entry.mtime })
          } else {
            ctx.print(`${entry.cid} ${entry.size} ${entry.name}${entry.type === 'directory' ? '/' : ''}`)
          }
        }
      })
    })
}
