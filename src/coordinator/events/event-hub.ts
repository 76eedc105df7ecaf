/**
 * Live events for clients (`GET /api/v1/events`): upload status changes and storage nodes'
 * pin status reports. This hub is one process's; `replicateEvents` (replicated-event-hub.ts)
 * carries events to the subscribers of every replica on the registry.
 */

/** An upload moved to a new status (`receiving → importing → saving → done | error`). */
export interface UploadEvent {
  type: 'upload'
  id: string
  status: 'receiving' | 'importing' | 'saving' | 'done' | 'error'
  stage: string | null
  reason: string | null
  cid: string | null
}

/** A storage node reported a pin's status (queued, pinning, pinned, failed, …). */
export interface PinStatusEvent {
  type: 'pin-status'
  cid: string
  nodeId: string
  status: string
}

export type CoordinatorEvent = UploadEvent | PinStatusEvent

/** Who an event is for: listed accounts, and (with `admins`) every admin subscriber. */
export interface EventAudience {
  accountIds: readonly string[]
  admins?: boolean
}

/** A subscriber's identity, from its verified principal. */
export interface SubscriberIdentity {
  accountId: string
  admin: boolean
}

/** One subscriber's stream of events, in publish order. */
export interface EventSubscription extends AsyncIterable<CoordinatorEvent> {
  /**
   * Resolves with the next event, or `undefined` once the subscription is closed (by the
   * subscriber or because it fell too far behind: see `dropped`).
   */
  next(): Promise<CoordinatorEvent | undefined>
  /** True once the hub dropped this subscriber for not keeping up with its queue. */
  readonly dropped: boolean
  /** Ends the subscription; pending `next()` calls resolve `undefined`. Idempotent. */
  close(): void
}

export interface EventHubOptions {
  /** Events held per subscriber before it is dropped (default 256). */
  maxQueue?: number
}

/**
 * Publish/subscribe of coordinator events, filtered per account. Publishing never blocks
 * or throws: each subscriber has a bounded queue, and one that lets it fill (a stalled
 * client) is dropped — its subscription ends and the client reconnects — rather than
 * buffered without bound.
 */
export interface EventHub {
  publish(event: CoordinatorEvent, audience: EventAudience): void
  subscribe(identity: SubscriberIdentity): EventSubscription
  /** Current subscriber count (for tests and metrics). */
  readonly size: number
  /** Closes every subscription. */
  close(): Promise<void>
}

const DEFAULT_MAX_QUEUE = 256

export function createEventHub(options: EventHubOptions = {}): EventHub {
  const maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE
  const subscribers = new Set<Subscriber>()
  return {
    publish(event, audience) {
      for (const subscriber of subscribers) {
        const wanted = audience.accountIds.includes(subscriber.identity.accountId) || (audience.admins === true && subscriber.identity.admin)
        if (wanted) subscriber.push(event)
      }
    },
    subscribe(identity) {
      const subscriber = new Subscriber(identity, maxQueue, () => subscribers.delete(subscriber))
      subscribers.add(subscriber)
      return subscriber
    },
    get size() {
      return subscribers.size
    },
    async close() {
      for (const subscriber of [...subscribers]) subscriber.close()
    },
  }
}

class Subscriber implements EventSubscription {
  readonly identity: SubscriberIdentity
  readonly #maxQueue: number
  readonly #onClose: () => void
  readonly #queue: CoordinatorEvent[] = []
  #waiting: ((event: CoordinatorEvent | undefined) => void) | undefined
  #closed = false
  #dropped = false

  constructor(identity: SubscriberIdentity, maxQueue: number, onClose: () => void) {
    this.identity = identity
    this.#maxQueue = maxQueue
    this.#onClose = onClose
  }

  get dropped(): boolean {
    return this.#dropped
  }

  push(event: CoordinatorEvent): void {
    if (this.#closed) return
    const waiting = this.#waiting
    if (waiting) {
      this.#waiting = undefined
      waiting(event)
      return
    }
    if (this.#queue.length >= this.#maxQueue) {
      this.#dropped = true
      this.close()
      return
    }
    this.#queue.push(event)
  }

  next(): Promise<CoordinatorEvent | undefined> {
    const queued = this.#queue.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    if (this.#closed) return Promise.resolve(undefined)
    return new Promise((resolve) => {
      this.#waiting = resolve
    })
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#queue.length = 0
    const waiting = this.#waiting
    this.#waiting = undefined
    waiting?.(undefined)
    this.#onClose()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<CoordinatorEvent> {
    for (;;) {
      const event = await this.next()
      if (event === undefined) return
      yield event
    }
  }
}
