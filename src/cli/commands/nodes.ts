import type { Command } from 'commander'
import { sessionClient } from '../client/api-client.ts'
import type { CliContext } from '../cli-context.ts'

/** A node as `GET /api/v1/nodes` shows it (fields the CLI prints). */
export interface NodeListing {
  id: string
  name: string
  status: string
  state: string
  connected: boolean
  draining: boolean
  gatewayUrl: string | null
  gatewayVerified: boolean
  claimedGatewayUrl: string | null
  lastSeen: string | null
  tags: Record<string, string>
  capacity: { totalBytes: number; usedBytes: number; availableBytes: number }
  pins: number
  queued: number
  failed: number
  version: string | null
}

/** The verified gateway URL, or the claimed one marked as not vouched for (never handed out). */
function gatewayColumn(n: NodeListing): string {
  if (n.gatewayVerified && n.gatewayUrl !== null) return `${n.gatewayUrl} (verified)`
  return n.claimedGatewayUrl === null ? '-' : `${n.claimedGatewayUrl} (unverified)`
}

/** `pinfold nodes ls|show|drain|remove` (admin): the coordinator's storage nodes. */
export function registerNodes(program: Command, ctx: CliContext): void {
  const nodes = program.command('nodes').description('storage nodes of the cluster (admin)')
  nodes
    .command('ls')
    .description('list storage nodes')
    .option('--json', 'print as JSON')
    .action(async (flags: { json?: boolean }) => {
      const client = await sessionClient(ctx.io.env)
      const { nodes: list } = await client.json<{ nodes: NodeListing[] }>('GET', '/api/v1/nodes')
      if (flags.json) return ctx.printJson(list)
      if (list.length === 0) return ctx.print('no storage nodes')
      const rows = list.map((n) => [
        n.id,
        n.name,
        n.draining ? `${n.status},draining` : n.status,
        String(n.pins),
        String(n.queued),
        String(n.failed),
        `${formatBytes(n.capacity.availableBytes)}/${formatBytes(n.capacity.totalBytes)}`,
        gatewayColumn(n),
      ])
      for (const line of table(['ID', 'NAME', 'STATUS', 'PINS', 'QUEUED', 'FAILED', 'FREE/TOTAL', 'GATEWAY'], rows)) ctx.print(line)
    })
  nodes
    .command('show <id>')
    .description('one storage node in detail')
    .option('--json', 'print as JSON')
    .action(async (id: string, flags: { json?: boolean }) => {
      const client = await sessionClient(ctx.io.env)
      const node = await client.json<Record<string, unknown>>('GET', `/api/v1/nodes/${encodeURIComponent(id)}`)
      if (flags.json) return ctx.printJson(node)
      printFields(ctx, node)
    })
  nodes
    .command('drain <id>')
    .description("move the node's pins to other nodes, then release its copies")
    .option('--json', 'print as JSON')
    .action(async (id: string, flags: { json?: boolean }) => {
      const client = await sessionClient(ctx.io.env)
      const node = await client.json<NodeListing>('POST', `/api/v1/nodes/${encodeURIComponent(id)}/drain`)
      if (flags.json) return ctx.printJson(node)
      ctx.print(`draining ${node.id} (${node.name}): its pins move to other nodes; see \`pinfold nodes show ${node.id}\``)
    })
  nodes
    .command('remove <id>')
    .description('revoke a node: refused from now on, its pins re-allocated')
    .option('--json', 'print as JSON')
    .action(async (id: string, flags: { json?: boolean }) => {
      const client = await sessionClient(ctx.io.env)
      const node = await client.json<NodeListing>('DELETE', `/api/v1/nodes/${encodeURIComponent(id)}`)
      if (flags.json) return ctx.printJson(node)
      ctx.print(`removed ${node.id} (${node.name}): it can no longer join; its pins are re-allocated`)
    })
}

/** Left-aligned columns separated by two spaces. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return [line(header), ...rows.map(line)]
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`
}

function printFields(ctx: CliContext, value: Record<string, unknown>, indent = ''): void {
  for (const [key, field] of Object.entries(value)) {
    if (Array.isArray(field) && field.some((f) => f !== null && typeof f === 'object')) {
      ctx.print(`${indent}${key}:`)
      for (const item of field) {
        ctx.print(`${indent}  -`)
        printFields(ctx, item as Record<string, unknown>, `${indent}    `)
      }
    } else if (field !== null && typeof field === 'object' && !Array.isArray(field)) {
      ctx.print(`${indent}${key}:`)
      printFields(ctx, field as Record<string, unknown>, `${indent}  `)
    } else ctx.print(`${indent}${key}: ${Array.isArray(field) ? JSON.stringify(field) : String(field)}`)
  }
}
