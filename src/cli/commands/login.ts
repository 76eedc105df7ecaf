import type { Command } from 'commander'
import { InvalidOptionError } from '../../core/index.ts'
import { requestToken, signOutSession } from '../client/api-client.ts'
import { clearSession, readSession, sessionFile, writeSession } from '../client/session-store.ts'
import type { CliContext } from '../cli-context.ts'

export function registerLogin(program: Command, ctx: CliContext): void {
  program
    .command('login')
    .description('sign in to a coordinator with an API key (stored in your config directory, mode 0600)')
    .requiredOption('--url <url>', 'coordinator URL, e.g. http://127.0.0.1:8080')
    .option('--api-key <key>', 'API key (default: $PINFOLD_API_KEY)')
    .option('--json', 'print the result as JSON')
    .action(async (flags: { url: string; apiKey?: string; json?: boolean }) => {
      const apiKey = flags.apiKey ?? ctx.io.env.PINFOLD_API_KEY
      if (!apiKey) throw new InvalidOptionError('an API key is required: --api-key KEY or $PINFOLD_API_KEY')
      const url = normalizeUrl(flags.url)
      const token = await requestToken(url, apiKey)
      await writeSession(ctx.io.env, { url, apiKey, ...token })
      if (flags.json) ctx.printJson({ url, expiresAt: new Date(token.expiresAt).toISOString() })
      else ctx.print(`logged in to ${url} (session in ${sessionFile(ctx.io.env)})`)
    })
  program
    .command('logout')
    .description('end the stored session’s access token and forget the session')
    .action(async () => {
      const session = await readSession(ctx.io.env)
      if (session) await signOutSession(session)
      await clearSession(ctx.io.env)
      ctx.print('logged out')
    })
}

function normalizeUrl(input: string): string {
  try {
    const url = new URL(input)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http')
    return url.origin
  } catch {
    throw new InvalidOptionError(`invalid --url ${JSON.stringify(input)}: expected http(s)://host:port`)
  }
}
