import type { Command } from 'commander'
import { InvalidOptionError } from '../../core/index.ts'
import { parseDuration } from '../../core/units.ts'
import { sessionClient } from '../client/api-client.ts'
import type { CliContext } from '../cli-context.ts'

const MAX_SECONDS = 30 * 86400

interface ShareAnswer {
  url: string
  token: string
  cid: string
  path: string
  expiresAt: string
}

/** `pinfold share CID[/path] --expires 1h`: a signed, expiring read link from the coordinator. */
export function registerShare(program: Command, ctx: CliContext): void {
  program
    .command('share')
    .description('print a signed read link to a CID (or a path inside it) that works without a token until it expires')
    .argument('<cid-path>', 'CID, optionally followed by /path inside the DAG')
    .option('--expires <duration>', 'lifetime, e.g. 30m, 1h, 7d (plain number: seconds; at most 30d)', '1h')
    .option('--json', 'print {url, token, cid, path, expiresAt} as JSON')
    .action(async (cidPath: string, flags: { expires: string; json?: boolean }) => {
      const [cid = '', ...rest] = cidPath.replace(/^\/?ipfs\//, '').split('/')
      const expiresIn = parseExpires(flags.expires)
      const client = await sessionClient(ctx.io.env)
      const path = rest.filter((segment) => segment !== '').join('/')
      const answer = await client.json<ShareAnswer>('POST', '/api/v1/share', {
        json: { cid, expiresIn, ...(path === '' ? {} : { path }) },
      })
      if (flags.json) return ctx.printJson(answer)
      ctx.print(answer.url)
      ctx.io.stderr.write(`expires ${answer.expiresAt}\n`)
    })
}

function parseExpires(input: string): number {
  const seconds = /^\s*\d+\s*$/.test(input) ? Number(input) : parseDuration(input, '--expires') / 1000
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > MAX_SECONDS) {
    throw new InvalidOptionError(`invalid --expires ${JSON.stringify(input)}: between 1s and 30d`)
  }
  return Math.floor(seconds)
}
