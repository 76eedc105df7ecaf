import type { Command } from 'commander'
import type { StoragePathInfo } from '../../repo/index.ts'
import { formatBytes, parseByteSize, parseCount } from '../../core/units.ts'
import type { CliContext } from '../cli-context.ts'

interface StorageFlags {
  maxSize?: string
  weight?: string
  json?: boolean
}

export function registerStorage(program: Command, ctx: CliContext): void {
  const storage = program.command('storage').description('manage storage paths')
  const show = (path: StoragePathInfo, json?: boolean) =>
    json
      ? ctx.printJson(path)
      : ctx.print(
          `${path.id} ${path.dir} weight=${path.weight} max=${path.maxSize === 0 ? 'unlimited' : formatBytes(path.maxSize)} used=${formatBytes(path.used)} available=${formatBytes(path.available)}`,
        )
  storage
    .command('add')
    .description('add a storage path (works on a live repository)')
    .argument('<dir>')
    .option('--max-size <size>', 'maximum bytes stored there, 0 = unlimited (e.g. 500GB)')
    .option('--weight <n>', 'placement weight, 0 = read-only')
    .option('--json', 'print as JSON')
    .action(async (dir: string, flags: StorageFlags) => {
      const info = await ctx.withRepo((repo) => repo.storage.add(dir, sizeAndWeight(flags)))
      show(info, flags.json)
    })
  storage
    .command('ls')
    .description('list storage paths')
    .option('--json', 'print as JSON')
    .action(async (flags: StorageFlags) => {
      for (const path of await ctx.withRepo((repo) => repo.storage.list())) show(path, flags.json)
    })
  storage
    .command('set')
    .description('change a storage path’s maximum size or weight')
    .argument('<id>')
    .option('--max-size <size>', 'maximum bytes stored there, 0 = unlimited')
    .option('--weight <n>', 'placement weight, 0 = read-only')
    .option('--json', 'print as JSON')
    .action(async (id: string, flags: StorageFlags) => {
      show(await ctx.withRepo((repo) => repo.storage.set(id, sizeAndWeight(flags))), flags.json)
    })
}

function sizeAndWeight(flags: StorageFlags): { maxSize?: number; weight?: number } {
  return {
    maxSize: flags.maxSize === undefined ? undefined : parseByteSize(flags.maxSize, '--max-size'),
    weight: flags.weight === undefined ? undefined : parseCount(flags.weight, '--weight'),
  }
}
