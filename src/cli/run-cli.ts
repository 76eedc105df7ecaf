import { CommanderError } from 'commander'
import { escapeControlCharacters, PinfoldError } from '../core/index.ts'
import { createProgram } from './program.ts'
import type { CliIo } from './cli-io.ts'

/**
 * Runs one `pinfold` invocation and returns its exit code. User mistakes print one
 * line (`Error: …`) and exit 1; unexpected failures exit 2, with a stack only when
 * PINFOLD_DEBUG is set, so a user never sees a trace for their own error.
 */
export async function runCli(args: string[], io: CliIo): Promise<number> {
  const program = createProgram(io)
  try {
    await program.parseAsync(args, { from: 'user' })
    return 0
  } catch (error) {
    return reportError(error, io)
  }
}

function reportError(error: unknown, io: CliIo): number {
  if (error instanceof CommanderError) {
    // commander already printed its message (unknown option, missing argument, --help)
    return error.exitCode
  }
  if (error instanceof PinfoldError) {
    // messages can quote names from the server (no entry /Library/<name>)
    io.stderr.write(`Error: ${escapeControlCharacters(error.message)}\n`)
    if (io.env.PINFOLD_DEBUG && error.stack) io.stderr.write(`${error.stack}\n`)
    return error.userError ? 1 : 2
  }
  const message = error instanceof Error ? error.message : String(error)
  io.stderr.write(`Error: ${escapeControlCharacters(message)}\n`)
  if (io.env.PINFOLD_DEBUG && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`)
  return 2
}
