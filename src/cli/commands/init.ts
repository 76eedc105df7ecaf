import type { Command } from 'commander'
import { initRepo } from '../../repo/index.ts'
import type { CliContext } from '../cli-context.ts'

export function registerInit(program: Command, ctx: CliContext): void {
  program
    .command('init')
    .description('create a repository (one storage path inside it unless --storage-path is given)')
    .option('--storage-path <dir>', 'directory of the first storage path')
    .action(async (options: { storagePath?: string }) => {
      const dir = ctx.repoDir()
      await initRepo(dir, { storagePath: options.storagePath })
      ctx.print(`initialised repository at ${dir}`)
    })
}
