import { createReadStream, createWriteStream } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Command } from 'commander'
import { exportCar, importCar, PinfoldError, parseCid } from '../../core/index.ts'
import type { CliContext } from '../cli-context.ts'

export function registerCar(program: Command, ctx: CliContext): void {
  const car = program.command('car').description('CAR (content archive) import and export')
  car
    .command('export')
    .description('write a DAG as a CARv1 file')
    .argument('<cid>')
    .requiredOption('-o, --output <file>', 'the CAR file to write')
    .action(async (input: string, flags: { output: string }) => {
      const root = parseCid(input)
      // write beside the target and rename, so a failed export never leaves a CAR that looks complete
      const partial = `${flags.output}.partial`
      try {
        await ctx.withRepo((repo) => pipeline(Readable.from(exportCar(repo.blocks, root)), createWriteStream(partial)))
        await rename(partial, flags.output)
      } catch (error) {
        await rm(partial, { force: true })
        throw error
      }
      ctx.print(`exported ${root} to ${flags.output}`)
    })
  car
    .command('import')
    .description('import a CARv1 or CARv2 file, verifying every block, and pin its roots')
    .argument('<file>')
    .option('--no-pin', 'do not pin the roots')
    .action(async (file: string, flags: { pin: boolean }) => {
      const input = createReadStream(file)
      const opened = new Promise((resolve, reject) => input.once('open', resolve).once('error', reject))
      await opened.catch((error: NodeJS.ErrnoException) => {
        throw new PinfoldError('ERR_FILE_UNREADABLE', `cannot read ${file}: ${error.code ?? error.message}`, {
          userError: true,
        })
      })
      const result = await ctx.withRepo((repo) =>
        repo.runAdd(async () => {
          const imported = await importCar(input, repo.blocks)
          if (flags.pin) for (const root of imported.roots) await repo.pins.add(root, { recursive: true })
          return imported
        }),
      )
      for (const root of result.roots) ctx.print(`imported ${root}${flags.pin ? ' (pinned)' : ''}`)
      ctx.print(`${result.blocks} block(s), ${result.bytes} bytes`)
    })
}
