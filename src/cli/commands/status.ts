import type { Command } from 'commander'
import { sessionClient } from '../client/api-client.ts'
import type { CliContext } from '../cli-context.ts'
import { table } from './nodes.ts'

export interface PinStatusListing {
  cid: string
  replicationMin: number
  replicationMax: number
  underReplicated: { copies: number; wanted: number; reason: string; since: string } | null
  allocations: {
    nodeId: string
    nodeName: string | null
    nodeStatus: string
    status: string
    attempts: number
    reason: string | null
    updatedAt: string
  }[]
}

/** `pinfold status CID`: the pin's replication goal and every allocated node's status. */
export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status <cid>')
    .description("replication status of a pin on every allocated storage node")
    .option('--json', 'print as JSON')
    .action(async (cid: string, flags: { json?: boolean }) => {
      const client = await sessionClient(ctx.io.env)
      const view = await client.json<PinStatusListing>('GET', `/api/v1/pins/${encodeURIComponent(cid)}/status`)
      if (flags.json) return ctx.printJson(view)
      const factor = (n: number) => (n === -1 ? 'every node' : String(n))
      const pinned = view.allocations.filter((a) => a.status === 'pinned').length
      ctx.print(`${view.cid}: ${pinned} pinned of ${view.allocations.length} allocated (min ${factor(view.replicationMin)}, max ${factor(view.replicationMax)})`)
      if (view.underReplicated) ctx.print(`under-replicated since ${view.underReplicated.since}: ${view.underReplicated.reason}`)
      if (view.allocations.length === 0) return
      const rows = view.allocations.map((a) => [
        a.nodeId,
        a.nodeName ?? '-',
        a.nodeStatus,
        a.status,
        String(a.attempts),
        a.updatedAt,
        a.reason ?? '',
      ])
      for (const line of table(['NODE', 'NAME', 'NODE STATUS', 'PIN STATUS', 'ATTEMPTS', 'UPDATED', 'REASON'], rows)) ctx.print(line)
    })
}
