import type { Command } from 'commander'
import { PinfoldError, parseCid } from '../../core/index.ts'
import type { CliContext } from '../cli-context.ts'

export function registerPin(program: Command, ctx: CliContext): void {
  const pin = program.command('pin').description('keep DAGs from garbage collection')
  pin
    .command('add')
    .description('pin a DAG that is fully present in the repository')
    .argument('<cid>')
    .option('--direct', 'pin only the root block')
    .option('--name <name>', 'a name for the pin')
    .action(async (input: string, flags: { direct?: boolean; name?: string }) => {
      const cid = parseCid(input)
      await ctx.withRepo((repo) =>
        repo.runAdd(() => repo.pins.add(cid, { recursive: !flags.direct, name: flags.name })),
      )
      ctx.print(`pinned ${cid} ${flags.direct ? 'directly' : 'recursively'}`)
    })
  pin
    .command('rm')
    .description('remove a pin (blocks are reclaimed by the next gc)')
    .argument('<cid>')
    .action(async (input: string) => {
      const cid = parseCid(input)
      const removed = await ctx.withRepo((repo) => repo.pins.rm(cid))
      if (!removed) throw new PinfoldError('ERR_NOT_PINNED', `not pinned: ${cid}`, { userError: true })
      ctx.print(`unpinned ${cid}`)
    })
  pin
    .command('ls')
    .description('list pins')
    .option('--json', 'one JSON object per pin')
    .action(async (flags: { json?: boolean }) => {
      await ctx.withRepo(async (repo) => {
        for await (const entry of repo.pins.ls()) {
          if (flags.json) ctx.printJson(entry)
          else ctx.print(`${entry.cid} ${entry.recursive ? 'recursive' : 'direct'}${entry.name ? ` ${entry.name}` : ''}`)
        }
      })
    })
}
