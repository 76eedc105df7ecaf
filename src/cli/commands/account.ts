import { readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline/promises'
import { Writable } from 'node:stream'
import type { Command } from 'commander'
import { InvalidOptionError } from '../../core/index.ts'
import { sessionClient } from '../client/api-client.ts'
import { readSession, writeSession } from '../client/session-store.ts'
import type { CliContext } from '../cli-context.ts'

interface PasswordFlags {
  currentPasswordFile?: string
  newPasswordFile?: string
}

export function registerAccount(program: Command, ctx: CliContext): void {
  const account = program.command('account').description('your account')
  account
    .command('password')
    .description('change your password (asked for on the terminal, else from files or $PINFOLD_PASSWORD / $PINFOLD_NEW_PASSWORD); every session of the account then ends')
    .option('--current-password-file <file>', 'read the current password from this file')
    .option('--new-password-file <file>', 'read the new password from this file')
    .action(async (flags: PasswordFlags) => {
      const client = await sessionClient(ctx.io.env)
      const currentPassword = await secret(flags.currentPasswordFile, ctx.io.env.PINFOLD_PASSWORD, 'current password: ', '--current-password-file')
      const password = await secret(flags.newPasswordFile, ctx.io.env.PINFOLD_NEW_PASSWORD, 'new password: ', '--new-password-file')
      await client.fetch('PATCH', '/api/v1/account', { json: { currentPassword, password } })
      // the change ended the stored access token too: the next command gets a new one from the key
      const stored = await readSession(ctx.io.env)
      if (stored) await writeSession(ctx.io.env, { ...stored, expiresAt: 0 })
      ctx.print('password changed; every session of the account has been signed out')
    })
}

/** A password from a file (one trailing newline dropped), the environment, or a prompt that does not echo. */
async function secret(file: string | undefined, fromEnv: string | undefined, prompt: string, flag: string): Promise<string> {
  if (file !== undefined) return (await readFile(file, 'utf8')).replace(/\r?\n$/, '')
  if (fromEnv) return fromEnv
  if (!process.stdin.isTTY) throw new InvalidOptionError(`no terminal to ask on: pass ${flag} or set the environment variable`)
  process.stderr.write(prompt)
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() })
  const rl = createInterface({ input: process.stdin, output: silent, terminal: true })
  try {
    return await rl.question('')
  } finally {
    rl.close()
    process.stderr.write('\n')
  }
}
