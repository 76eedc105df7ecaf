/**
 * The signed-in session. The browser holds one session for all its tabs: an HttpOnly
 * refresh cookie (set by POST /api/v1/auth/token with `session: true`, scoped to
 * /api/v1/auth, unreadable by scripts) that POST /api/v1/auth/refresh trades for a new
 * short-lived access token, rotating the cookie. Each tab keeps its current access token in
 * sessionStorage (survives a reload); a new tab gets its own from the cookie. Tokens are
 * renewed before they expire and whenever the API answers 401; renewals of one tab share
 * one request, and tabs take turns (Web Locks) so each sends the newest cookie. An API-key
 * sign-in has no cookie: it ends when its token does. The password or key is never stored.
 */
export interface SessionState {
  token: string
  expiresAt: number
  /** How the user signed in, for the header: an email, or "API key". */
  label: string
  /** True when a refresh cookie backs the session (password sign-in). */
  renewable: boolean
}

const KEY = 'pinfold.session'
const LOCK = 'pinfold.session.renew'
/** Tells the other tabs of this browser that the user signed out. */
const channel = typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel('pinfold.session')
/** Renew when this much of a token's life is left (a third of it, at most a minute). */
const RENEW_AHEAD_MAX_MS = 60_000
/** After a renewal that failed for lack of network: try again this soon. */
const RENEW_RETRY_MS = 5_000
type Listener = () => void

let current: SessionState | null = load()
let notice: string | null = null
let timer: ReturnType<typeof setTimeout> | undefined
let renewing: Promise<string | null> | null = null
/** While the first renewal of a fresh tab runs: the sign-in page waits for it. */
let restoring = current === null
const listeners = new Set<Listener>()

function load(): SessionState | null {
  try {
    const raw = sessionStorage.getItem(KEY)
    if (!raw) return null
    const parsed = JSON.parse(raw) as SessionState
    return parsed.expiresAt > Date.now() || parsed.renewable ? parsed : null
  } catch {
    return null
  }
}

function emit(): void {
  for (const listener of listeners) listener()
}

function schedule(): void {
  clearTimeout(timer)
  if (!current) return
  const left = current.expiresAt - Date.now()
  if (!current.renewable) {
    // setTimeout cannot wait longer than ~24.8 days; tokens live hours
    timer = setTimeout(() => end('Your session expired. Please sign in again.'), Math.max(Math.min(left, 2 ** 31 - 1), 0))
    return
  }
  const ahead = Math.min(RENEW_AHEAD_MAX_MS, left / 3)
  timer = setTimeout(() => void session.renew(), Math.max(Math.min(left - ahead, 2 ** 31 - 1), 0))
}

function store(state: SessionState): void {
  current = state
  notice = null
  restoring = false
  sessionStorage.setItem(KEY, JSON.stringify(state))
  schedule()
  emit()
}

function end(message: string | null): void {
  const had = current !== null || restoring
  current = null
  restoring = false
  notice = message
  sessionStorage.removeItem(KEY)
  clearTimeout(timer)
  if (had) emit()
}

/** One renewal request; null when the session has ended, undefined on a network failure. */
async function refresh(): Promise<{ accessToken: string; expiresAt: string } | null | undefined> {
  try {
    const response = await fetch('/api/v1/auth/refresh', { method: 'POST', credentials: 'same-origin', cache: 'no-store' })
    if (response.status === 401) return null
    if (!response.ok) return undefined
    return (await response.json()) as { accessToken: string; expiresAt: string }
  } catch {
    return undefined
  }
}

async function renewOnce(): Promise<string | null> {
  const run = () => refresh()
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined
  const answer = locks ? await locks.request(LOCK, run) : await run()
  if (answer === null) {
    end(restoring ? null : 'Your session has ended. Please sign in again.')
    return null
  }
  if (answer === undefined) {
    // offline for now: the current token (if still valid) keeps working; try again soon
    restoring = false
    clearTimeout(timer)
    if (current) timer = setTimeout(() => void session.renew(), RENEW_RETRY_MS)
    emit()
    return current && current.expiresAt > Date.now() ? current.token : null
  }
  store({ token: answer.accessToken, expiresAt: Date.parse(answer.expiresAt), label: current?.label ?? '', renewable: true })
  return answer.accessToken
}

export const session = {
  get: (): SessionState | null => current,
  token: (): string | null => current?.token ?? null,
  /** True while a tab without a token of its own asks the browser's session for one. */
  restoring: (): boolean => restoring,
  /** A message for the sign-in page (why the user is there), shown once. */
  notice: (): string | null => notice,
  start(state: SessionState): void {
    store(state)
  },
  /**
   * A fresh access token, renewing now (one request however many callers ask at once).
   * Null when the session has ended (the user is then sent to sign in).
   */
  renew(): Promise<string | null> {
    if (current && !current.renewable) return Promise.resolve(null)
    renewing ??= renewOnce().finally(() => {
      renewing = null
    })
    return renewing
  },
  /** The token to send now: waits for a renewal in flight, renews one that has expired. */
  async fresh(): Promise<string | null> {
    if (renewing) return renewing
    if (current && current.expiresAt <= Date.now() && current.renewable) return session.renew()
    return current?.token ?? null
  },
  /** Ends the session in this tab and tells the other tabs of this browser. */
  signOut(message: string | null = null): void {
    end(message)
    channel?.postMessage('signed-out')
  },
  /** The API refused the token: renew it, else sign out with `message`. */
  expire(message: string): void {
    if (!current) return
    if (!current.renewable) {
      end(message)
      return
    }
    void session.renew()
  },
  subscribe(listener: Listener): () => void {
    listeners.add(listener)
    return () => listeners.delete(listener)
  },
}

channel?.addEventListener('message', () => end('You have signed out.'))
if (current) schedule()
else void session.renew()
