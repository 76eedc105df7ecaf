import type { Command } from 'commander'
import { sessionClient } from '../client/api-client.ts'
import type { CliContext } from '../cli-context.ts'

export function registerUsage(program: Command, ctx: CliContext): void {
  program
    .command('usage')
    .description('your usage in the current billing period (or --from/--to, ISO dates)')
    .option('--from <date>')
    .option('--to <date>')
    .option('--json', 'print as JSON')
    .action(async (flags: { from?: string; to?: string; json?: boolean }) => {
      const client = await sessionClient(ctx.io.env)
      const usage = await client.json<Record<string, unknown>>('GET', '/api/v1/usage', { query: { from: flags.from, to: flags.to } })
      if (flags.json) return ctx.printJson(usage)
      printFields(ctx, usage)
    })
  program
    .command('statements')
    .description('your billing statements, newest first')
    .option('--json', 'print as JSON')
    .action(async (flags: { json?: boolean }) => {
      const client = await sessionClient(ctx.io.env)
      const { statements } = await client.json<{ statements: Record<string, unknown>[] }>('GET', '/api/v1/billing/statements')
      if (flags.json) return ctx.printJson(statements)
      for (const statement of statements) {
        printFields(ctx, statement)
        ctx.print('')
      }
    })
}

/** One `name: value` line per scalar field, nested objects indented. */
function printFields(ctx: CliContext, value: Record<string, unknown>, indent = ''): void {
  for (const [key, field] of Object.entries(value)) {
    if (field !== null && typeof field === 'object' && !Array.isArray(field)) {
      ctx.print(`${indent}${key}:`)
      printFields(ctx, field as Record<string, unknown>, `${indent}  `)
    } else ctx.print(`${indent}${key}: ${Array.isArray(field) ? JSON.stringify(field) : String(field)}`)
  }
}
