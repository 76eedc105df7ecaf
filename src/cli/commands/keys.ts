import type { Command } from 'commander'
import { parseCount } from '../../core/units.ts'
import { sessionClient } from '../client/api-client.ts'
import type { CliContext } from '../cli-context.ts'

interface ApiKeyView {
  id: string
  description: string
  prefix: string
  scopes: string[]
  createdAt: string
  expiresAt: string | null
  status: string
}

export function registerKeys(program: Command, ctx: CliContext): void {
  const keys = program.command('keys').description('API keys of your account')
  keys
    .command('create')
    .description('create an API key; its secret is printed once')
    .option('--description <text>', 'what the key is for', '')
    .option('--scopes <list>', 'comma-separated: read,write,admin', 'read,write')
    .option('--expires-in-days <n>', 'days until it expires (default 365)')
    .option('--no-expiry', 'never expires')
    .option('--json', 'print as JSON')
    .action(async (flags: { description: string; scopes: string; expiresInDays?: string; expiry: boolean; json?: boolean }) => {
      const client = await sessionClient(ctx.io.env)
      const expiresInDays = flags.expiry === false ? null : flags.expiresInDays ? parseCount(flags.expiresInDays, '--expires-in-days') : 365
      const created = await client.json<{ key: ApiKeyView; secret: string }>('POST', '/api/v1/keys', {
        json: { description: flags.description, scopes: flags.scopes.split(',').map((s) => s.trim()), expiresInDays },
      })
      if (flags.json) return ctx.printJson(created)
      ctx.print(`created key ${created.key.id} (${created.key.scopes.join(',')}), expires ${created.key.expiresAt ?? 'never'}`)
      ctx.print(`secret (shown once): ${created.secret}`)
    })
  keys
    .command('ls')
    .description('list your API keys')
    .option('--json', 'print as JSON')
    .action(async (flags: { json?: boolean }) => {
      const client = await sessionClient(ctx.io.env)
      const { keys: list } = await client.json<{ keys: ApiKeyView[] }>('GET', '/api/v1/keys')
      if (flags.json) return ctx.printJson(list)
      for (const key of list) {
        ctx.print(`${key.id} ${key.prefix}… ${key.status} ${key.scopes.join(',')} expires=${key.expiresAt ?? 'never'} ${key.description}`)
      }
    })
  keys
    .command('revoke')
    .description('revoke an API key: no new tokens from it')
    .argument('<id>')
    .action(async (id: string) => {
      const client = await sessionClient(ctx.io.env)
      await client.fetch('DELETE', `/api/v1/keys/${encodeURIComponent(id)}`)
      ctx.print(`revoked ${id}`)
    })
}
