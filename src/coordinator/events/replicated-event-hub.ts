import type { Logger } from 'pino'
import { MAX_NOTIFICATION_BYTES, type Notifications } from '../../registry/index.ts'
import type { CoordinatorEvent, EventAudience, EventHub } from './event-hub.ts'

/**
 * An event hub whose events reach the subscribers of every replica: `publish` sends the
 * event as a notification, and each replica (this one included) publishes what it hears to
 * its own subscribers. Best effort, like the hub itself: an event too large for a
 * notification, or sent while the database is unreachable, reaches this replica's
 * subscribers only. `size` counts this replica's subscribers.
 */
export function replicateEvents(local: EventHub, notifications: Notifications, logger: Logger): EventHub {
  notifications.subscribe('event', (payload) => {
    const message = parseMessage(payload)
    if (message === undefined) logger.warn('ignored a malformed event notification')
    else local.publish(message.event, message.audience)
  })
  return {
    publish(event, audience) {
      const payload = JSON.stringify({ event, audience })
      if (Buffer.byteLength(payload) > MAX_NOTIFICATION_BYTES) {
        logger.debug({ type: event.type, bytes: Buffer.byteLength(payload) }, 'event too large for other replicas: published here only')
        local.publish(event, audience)
        return
      }
      notifications.publish('event', payload).catch((error: unknown) => {
        logger.warn({ err: error, type: event.type }, 'could not send an event to other replicas: published here only')
        local.publish(event, audience)
      })
    },
    subscribe: (identity) => local.subscribe(identity),
    get size() {
      return local.size
    },
    close: () => local.close(),
  }
}

function parseMessage(payload: string): { event: CoordinatorEvent; audience: EventAudience } | undefined {
  try {
    const message = JSON.parse(payload) as { event?: CoordinatorEvent; audience?: EventAudience }
    if (typeof message.event?.type !== 'string' || !Array.isArray(message.audience?.accountIds)) return undefined
    return { event: message.event, audience: message.audience }
  } catch {
    return undefined
  }
}
