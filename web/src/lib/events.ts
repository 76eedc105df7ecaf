import { useEffect, useRef, useState } from 'react'
import { session } from './session'

/** An upload's status changed (one of the signed-in account's uploads). */
export interface UploadEvent {
  type: 'upload'
  id: string
  status: 'receiving' | 'importing' | 'saving' | 'done' | 'error'
  stage: string | null
  reason: string | null
  cid: string | null
}

/** A storage node reported a pin status for a CID the account references (admins: any CID). */
export interface PinStatusEvent {
  type: 'pin-status'
  cid: string
  nodeId: string
  status: string
}

export type LiveEvent = UploadEvent | PinStatusEvent

type EventListener = (event: LiveEvent) => void
type StateListener = (connected: boolean) => void

const MIN_RETRY_MS = 1000
const MAX_RETRY_MS = 30_000

/**
 * The portal's one connection to GET /api/v1/events (Server-Sent Events). Read with fetch()
 * and a stream reader, not EventSource, so the access token travels in the Authorization
 * header (never in the URL). Open while anything listens and someone is signed in; after a
 * failure it reconnects with exponential backoff (1 s → 30 s), and `connected` is false
 * meanwhile so views fall back to polling. Listeners of `onState` are told on every
 * (re)connect, when they should re-read what they show: events sent while disconnected are lost.
 */
class LiveEvents {
  #listeners = new Set<EventListener>()
  #stateListeners = new Set<StateListener>()
  #connected = false
  #abort: AbortController | null = null
  #retryMs = MIN_RETRY_MS
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #token: string | null = null

  constructor() {
    session.subscribe(() => {
      if (session.token() !== this.#token) this.#restart()
    })
  }

  get connected(): boolean {
    return this.#connected
  }

  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener)
    this.#ensure()
    return () => {
      this.#listeners.delete(listener)
      this.#ensure()
    }
  }

  onState(listener: StateListener): () => void {
    this.#stateListeners.add(listener)
    this.#ensure()
    return () => {
      this.#stateListeners.delete(listener)
      this.#ensure()
    }
  }

  #wanted(): boolean {
    return (this.#listeners.size > 0 || this.#stateListeners.size > 0) && session.token() !== null
  }

  /** Opens the stream when wanted and not open; closes it when no longer wanted. */
  #ensure(): void {
    if (this.#wanted()) {
      if (!this.#abort && this.#retryTimer === undefined) void this.#run()
    } else {
      this.#stop()
    }
  }

  #restart(): void {
    this.#stop()
    this.#retryMs = MIN_RETRY_MS
    this.#ensure()
  }

  #stop(): void {
    clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    this.#abort?.abort()
    this.#abort = null
    this.#setConnected(false)
  }

  #setConnected(connected: boolean): void {
    if (connected === this.#connected) return
    this.#connected = connected
    for (const listener of [...this.#stateListeners]) listener(connected)
  }

  async #run(): Promise<void> {
    const abort = new AbortController()
    this.#abort = abort
    const token = session.token()
    this.#token = token
    try {
      const response = await fetch('/api/v1/events', {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
        signal: abort.signal,
        cache: 'no-store',
      })
      if (response.status === 401) {
        session.expire('Your session has expired or was revoked. Please sign in again.')
        return
      }
      if (!response.ok || !response.body) throw new Error(`event stream unavailable (HTTP ${response.status})`)
      this.#retryMs = MIN_RETRY_MS
      this.#setConnected(true)
      await this.#read(response.body)
    } catch {
      // a network failure or an aborted stream: handled below
    } finally {
      if (this.#abort === abort) {
        this.#abort = null
        this.#setConnected(false)
        this.#scheduleRetry()
      }
    }
  }

  #scheduleRetry(): void {
    if (!this.#wanted() || this.#retryTimer !== undefined) return
    const delay = this.#retryMs
    this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS)
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      this.#ensure()
    }, delay)
  }

  async #read(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader()
    const decoder = new TextDecoder()
    let buffer = ''
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n')
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const data = block
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).replace(/^ /, ''))
          .join('\n')
        if (data === '') continue // a comment (heartbeat) or an event without data
        let event: LiveEvent
        try {
          event = JSON.parse(data) as LiveEvent
        } catch {
          continue
        }
        for (const listener of [...this.#listeners]) listener(event)
      }
    }
  }
}

export const liveEvents = new LiveEvents()

/**
 * Keeps a view current: calls `reload` for every event `matches` accepts (coalesced to at
 * most one call per 300 ms) and on every (re)connect of the stream; while the stream is
 * down, polls every `pollMs` instead. `slowPollMs` (optional) keeps a slow poll while
 * connected, for state that has no events (e.g. node health).
 */
export function useLiveReload(reload: () => void, matches: (event: LiveEvent) => boolean, pollMs: number, slowPollMs?: number): void {
  const [connected, setConnected] = useState(liveEvents.connected)
  const saved = useRef({ reload, matches })
  saved.current = { reload, matches }
  useEffect(() => {
    let pending: ReturnType<typeof setTimeout> | undefined
    const schedule = () => {
      if (pending !== undefined) return
      pending = setTimeout(() => {
        pending = undefined
        saved.current.reload()
      }, 300)
    }
    const offEvents = liveEvents.subscribe((event) => {
      if (saved.current.matches(event)) schedule()
    })
    const offState = liveEvents.onState((now) => {
      setConnected(now)
      if (now) schedule()
    })
    setConnected(liveEvents.connected)
    return () => {
      clearTimeout(pending)
      offEvents()
      offState()
    }
  }, [])
  const interval = connected ? slowPollMs : pollMs
  useEffect(() => {
    if (interval === undefined) return
    const id = setInterval(() => saved.current.reload(), interval)
    return () => clearInterval(id)
  }, [interval])
}
