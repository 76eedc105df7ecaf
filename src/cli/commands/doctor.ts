import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { loadCoordinatorConfig } from '../../coordinator/config/load-config.ts'
import { unregisteredRepoPins } from '../../coordinator/unregistered-pins.ts'
import { PinfoldError } from '../../core/index.ts'
import { openRegistry } from '../../registry/index.ts'
import { openRepo } from '../../repo/index.ts'
import type { CliContext } from '../cli-context.ts'

interface DoctorFlags {
  config?: string
  db?: string
  repo?: string
  dataDir?: string
  json?: boolean
}

/**
 * `pinfold doctor`: checks a stopped coordinator's state (the same config, flags and data
 * dir as `serve`). Today one check: origin repo pins without a registry pin, which nothing
 * counts, removes or collects. Exits 1 when it finds any.
 */
export function registerDoctor(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description("check a stopped coordinator's registry against its origin repository")
    .option('--config <file>', 'JSON config file (default: $PINFOLD_CONFIG)')
    .option('--db <url>', 'registry: sqlite:PATH or postgres://…')
    .option('--repo <dir>', 'origin repository directory')
    .option('--data-dir <dir>', 'where state lives by default (default ./pinfold-data)')
    .option('--json', 'print as JSON')
    .action(async (flags: DoctorFlags) => {
      const config = await loadCoordinatorConfig({
        file: flags.config ?? ctx.io.env.PINFOLD_CONFIG,
        env: ctx.io.env,
        flags: { db: flags.db, repo: flags.repo, dataDir: flags.dataDir },
      })
      const dataDir = resolve(config.dataDir)
      const registry = await openRegistry(config.db ?? `sqlite:${join(dataDir, 'registry.sqlite')}`)
      try {
        const repo = await openRepo(resolve(config.repo ?? join(dataDir, 'repo')))
        try {
          const unregistered: string[] = []
          for await (const cid of unregisteredRepoPins(repo, registry)) {
            unregistered.push(cid)
            if (!flags.json) ctx.print(`repo pin without a registry pin: ${cid}`)
          }
          if (flags.json) ctx.printJson({ unregisteredRepoPins: unregistered })
          else ctx.print(`${unregistered.length} repo pin(s) without a registry pin`)
          if (unregistered.length > 0) {
            throw new PinfoldError('ERR_REPO_DAMAGED', `${unregistered.length} origin repo pin(s) are not in the registry: nothing counts, removes or collects them`, {
              userError: true,
            })
          }
        } finally {
          await repo.close()
        }
      } finally {
        await registry.close()
      }
    })
}
