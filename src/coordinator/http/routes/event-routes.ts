import type { FastifyInstance } from 'fastify'
import type { CoordinatorComponents } from '../../components.ts'
import type { CoordinatorEvent, EventSubscription } from '../../events/event-hub.ts'
import { ErrorResponse } from '../schemas.ts'

/** A comment line is sent this often so proxies and clients see a live connection. */
export const HEARTBEAT_MS = 15_000

const EVENTS_DESCRIPTION = [
  'Server-Sent Events (text/event-stream), authenticated with the usual `Authorization: Bearer` header',
  '(browsers read it with fetch() and a stream reader, since EventSource cannot send headers).',
  'Each event is `event: <type>` and `data: <JSON>` lines and a blank line:',
  '`upload` — `{type, id, status, stage, reason, cid}` on every status change of one of the caller’s uploads;',
  '`pin-status` — `{type, cid, nodeId, status}` when a storage node reports a pin status for a CID the',
  'caller references (admins receive every CID). A `: heartbeat` comment is sent every 15 s.',
  'A client that does not keep up is disconnected (reconnect, then re-read the state it needs).',
].join(' ')

/** `GET /api/v1/events`: live upload and pin status for the caller, as Server-Sent Events. */
export function eventRoutes(app: FastifyInstance, { authenticate, events, revocations, config }: CoordinatorComponents): void {
  // a stream stays open until the client leaves: end them all so the server can close
  app.addHook('preClose', async () => {
    await events.close()
  })
  app.get(
    '/api/v1/events',
    {
      schema: {
        tags: ['events'],
        summary: 'Live upload and replication status (Server-Sent Events)',
        description: EVENTS_DESCRIPTION,
        response: {
          200: { description: 'an open event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          401: ErrorResponse,
        },
      },
    },
    async (request, reply) => {
      const principal = await authenticate(request, 'read')
      const subscription = events.subscribe({ accountId: principal.accountId, admin: principal.role === 'admin' && principal.scopes.has('admin') })
      reply.hijack()
      const res = reply.raw
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      })
      const send = (text: string) => {
        if (!res.destroyed && !res.writableEnded) res.write(text)
      }
      send(': connected\n\n')
      const heartbeat = setInterval(() => send(': heartbeat\n\n'), HEARTBEAT_MS)
      heartbeat.unref()
      const stop = () => subscription.close()
      request.raw.on('close', stop)
      res.on('close', stop)
      // a stream outlives the request that opened it: its token is re-checked, so expiry and
      // revocation (key, account, sign-out) end it too
      const recheck = setInterval(
        () => {
          if ((principal.token?.expiresAt ?? Number.POSITIVE_INFINITY) <= Date.now()) return stop()
          revocations.assertLive(principal).catch(stop)
        },
        Math.max(1000, config.auth.revocationCheckSeconds * 1000),
      )
      recheck.unref()
      try {
        await pump(subscription, (event) => send(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`))
      } finally {
        clearInterval(heartbeat)
        clearInterval(recheck)
        request.raw.off('close', stop)
        if (!res.writableEnded) res.end()
      }
    },
  )
}

async function pump(subscription: EventSubscription, write: (event: CoordinatorEvent) => void): Promise<void> {
  for await (const event of subscription) write(event)
}
