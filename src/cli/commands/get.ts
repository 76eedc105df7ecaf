import { resolve } from 'node:path'
import type { Command } from 'commander'
import { exportToDirectory } from '../../core/index.ts'
import type { CliContext } from '../cli-context.ts'

export function registerGet(program: Command, ctx: CliContext): void {
  program
    .command('get')
    .description('write a file or directory tree to disk')
    .argument('<cid-path>', 'CID, optionally followed by /path inside the DAG')
    .option('-o, --output <dir>', 'target directory', '.')
    .option('--no-preserve-mtime', 'do not restore stored modification times')
    .action(async (cidPath: string, flags: { output: string; preserveMtime: boolean }) => {
      const target = resolve(flags.output)
      const result = await ctx.withRepo((repo) =>
        exportToDirectory(repo.blocks, cidPath, target, { preserveMtime: flags.preserveMtime }),
      )
      ctx.print(`saved ${result.files} file(s), ${result.directories} directorie(s), ${result.bytes} bytes to ${target}`)
    })
}
