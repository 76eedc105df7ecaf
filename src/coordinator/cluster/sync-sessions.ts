import { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import type { NodeMessage } from '../../cluster/index.ts'
import type { Registry } from '../../registry/index.ts'
import { PinSet, SyncResponder } from '../../sync/index.ts'
import type { NodeSession } from './node-session.ts'

type SyncMessage = Extract<NodeMessage, { type: 'sync' }>
type SyncDoneMessage = Extract<NodeMessage, { type: 'sync-done' }>

/**
 * The coordinator's side of anti-entropy: it is the responder, answering the node's
 * `sync` rounds against the node's desired set (its allocations that ask for a pin, i.e.
 * not unpinning), or, for a status round (`scope: 'pinned'`), its allocations recorded
 * `pinned`. State is per node session and bounded: one round state per session
 * (a new session id replaces the old), dropped on `sync-done`, on disconnect, or when idle.
 */
export interface SyncSessions {
  message(session: NodeSession, message: SyncMessage): Promise<void>
  done(session: NodeSession, message: SyncDoneMessage): void
  forget(session: NodeSession): void
}

const IDLE_MS = 5 * 60_000
const SCOPES = { desired: ['queued', 'pinning', 'pinned', 'failed'], pinned: ['pinned'] } as const

export function createSyncSessions({ registry, logger }: { registry: Registry; logger: Logger }): SyncSessions {
  const states = new WeakMap<NodeSession, { id: string; responder: SyncResponder; rounds: number; timer: NodeJS.Timeout; size: number }>()

  async function allocatedSet(nodeId: string, scope: keyof typeof SCOPES): Promise<PinSet> {
    const cids: Uint8Array[] = []
    let after: string | undefined
    for (;;) {
      const page = await registry.allocations.listForNode(nodeId, { status: [...SCOPES[scope]], after, limit: 10_000 })
      for (const a of page) {
        try {
          cids.push(CID.parse(a.cid).bytes)
        } catch {
          logger.warn({ nodeId, cid: a.cid }, 'allocation with an unparsable CID left out of anti-entropy')
        }
      }
      if (page.length < 10_000) break
      after = page.at(-1)?.cid
    }
    return PinSet.from(cids)
  }

  function forget(session: NodeSession): void {
    const state = states.get(session)
    if (state) clearTimeout(state.timer)
    states.delete(session)
  }

  return {
    async message(session, message) {
      const nodeId = session.nodeId as string
      let state = states.get(session)
      if (state?.id !== message.session) {
        forget(session)
        const desired = await allocatedSet(nodeId, message.scope ?? 'desired')
        state = { id: message.session, responder: new SyncResponder(desired), rounds: 0, timer: setTimeout(() => undefined, 0), size: desired.size }
      }
      clearTimeout(state.timer)
      state.timer = setTimeout(() => forget(session), IDLE_MS)
      state.timer.unref()
      states.set(session, state)
      state.rounds++
      const reply = state.responder.respond(new Uint8Array(Buffer.from(message.payload, 'base64')))
      session.send({ type: 'sync', session: message.session, payload: Buffer.from(reply).toString('base64') })
    },
    done(session, message) {
      const state = states.get(session)
      logger.info(
        { nodeId: session.nodeId, session: message.session, need: message.need, have: message.have, rounds: state?.rounds ?? 0, desired: state?.size },
        'anti-entropy round finished',
      )
      forget(session)
    },
    forget,
  }
}
