import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Command } from 'commander'
import { cat } from '../../core/index.ts'
import { parseCount } from '../../core/units.ts'
import type { CliContext } from '../cli-context.ts'

export function registerCat(program: Command, ctx: CliContext): void {
  program
    .command('cat')
    .description('write the bytes of a file to stdout')
    .argument('<cid-path>', 'CID, optionally followed by /path inside the DAG')
    .option('--offset <n>', 'first byte to write')
    .option('--length <n>', 'number of bytes to write')
    .action(async (cidPath: string, flags: { offset?: string; length?: string }) => {
      const offset = flags.offset === undefined ? undefined : parseCount(flags.offset, '--offset')
      const length = flags.length === undefined ? undefined : parseCount(flags.length, '--length')
      await ctx.withRepo(async (repo) => {
        // pipeline gives backpressure: a slow reader never makes us buffer the whole file
        await pipeline(Readable.from(cat(repo.blocks, cidPath, { offset, length })), ctx.io.stdout, { end: false })
      })
    })
}
