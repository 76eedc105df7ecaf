import { Command } from 'commander'
import { createCliContext } from './cli-context.ts'
import type { CliIo } from './cli-io.ts'
import { registerAccount } from './commands/account.ts'
import { registerAdd } from './commands/add.ts'
import { registerCar } from './commands/car.ts'
import { registerCat } from './commands/cat.ts'
import { registerFiles } from './commands/files.ts'
import { registerGc } from './commands/gc.ts'
import { registerGet } from './commands/get.ts'
import { registerInit } from './commands/init.ts'
import { registerKeys } from './commands/keys.ts'
import { registerLogin } from './commands/login.ts'
import { registerLs } from './commands/ls.ts'
import { registerNode } from './commands/node.ts'
import { registerNodes } from './commands/nodes.ts'
import { registerPin } from './commands/pin.ts'
import { registerRepo } from './commands/repo.ts'
import { registerDoctor } from './commands/doctor.ts'
import { registerServe } from './commands/serve.ts'
import { registerShare } from './commands/share.ts'
import { registerStatus } from './commands/status.ts'
import { registerStorage } from './commands/storage.ts'
import { registerSync } from './commands/sync.ts'
import { registerUsage } from './commands/usage.ts'

/** The single place where the `pinfold` command tree is assembled. */
export function createProgram(io: CliIo): Command {
  const program = new Command('pinfold')
    .description('Replicated, content-addressed file storage that speaks IPFS')
    .option('--repo <dir>', 'repository directory (default: $PINFOLD_REPO or ~/.pinfold)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError('(run with --help for usage)')
  const ctx = createCliContext(program, io)
  for (const register of [
    registerInit,
    registerAdd,
    registerCat,
    registerGet,
    registerLs,
    registerPin,
    registerGc,
    registerRepo,
    registerDoctor,
    registerStorage,
    registerCar,
    registerServe,
    registerLogin,
    registerFiles,
    registerKeys,
    registerAccount,
    registerUsage,
    registerShare,
    registerNode,
    registerNodes,
    registerSync,
    registerStatus,
  ]) {
    register(program, ctx)
  }
  // exitOverride is inherited only by subcommands created after it is set
  for (const command of allCommands(program)) command.exitOverride()
  return program
}

function* allCommands(command: Command): Generator<Command> {
  for (const child of command.commands) {
    yield child
    yield* allCommands(child)
  }
}
