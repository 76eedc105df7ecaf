import type { Command } from 'commander'
import { PinfoldError } from '../../core/index.ts'
import { formatBytes } from '../../core/units.ts'
import type { CliContext } from '../cli-context.ts'

export function registerRepo(program: Command, ctx: CliContext): void {
  const repo = program.command('repo').description('inspect and check the repository')
  repo
    .command('stat')
    .description('blocks, bytes, pins and storage paths')
    .option('--json', 'print as JSON')
    .action(async (flags: { json?: boolean }) => {
      const stat = await ctx.withRepo((r) => r.stat())
      if (flags.json) return ctx.printJson(stat)
      ctx.print(`blocks:   ${stat.blocks}`)
      ctx.print(`size:     ${formatBytes(stat.bytes)} (${stat.bytes} bytes)`)
      ctx.print(`pins:     ${stat.pins}`)
      for (const path of stat.storage) {
        ctx.print(
          `storage:  ${path.id} ${path.dir} weight=${path.weight} max=${path.maxSize === 0 ? 'unlimited' : formatBytes(path.maxSize)} used=${formatBytes(path.used)} available=${formatBytes(path.available)}`,
        )
      }
    })
  repo
    .command('verify')
    .description('re-hash every block and report corrupt or missing ones')
    .option('--drop', 'remove corrupt blocks so they can be fetched again')
    .option('--json', 'print as JSON')
    .action(async (flags: { drop?: boolean; json?: boolean }) => {
      const result = await ctx.withRepo((r) => r.verify({ drop: flags.drop }))
      if (flags.json) ctx.printJson(result)
      else {
        for (const cid of result.corrupt) ctx.print(`corrupt ${cid}`)
        for (const cid of result.missing) ctx.print(`missing ${cid}`)
        for (const cid of result.damagedPins) ctx.print(`damaged pin ${cid}`)
        ctx.print(
          `verified ${result.checked} block(s): ${result.corrupt.length} corrupt, ${result.missing.length} missing, ${result.dropped} dropped`,
        )
      }
      const damaged = result.corrupt.length + result.missing.length
      if (damaged > 0 && !flags.drop) {
        throw new PinfoldError('ERR_REPO_DAMAGED', `${damaged} damaged block(s); run \`pinfold repo verify --drop\` to remove them`, {
          userError: true,
        })
      }
    })
}
