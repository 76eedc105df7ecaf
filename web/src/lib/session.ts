/**
 * The signed-in session: an access token from POST /api/v1/auth/token and when it expires.
 * Kept in sessionStorage (this tab only, survives a reload, gone when the tab closes); the
 * API key or password used to obtain it is never stored.
 */
export interface SessionState {
  token: string
  expiresAt: number
  /** How the user signed in, for the header: an email, or "API key". */
  label: string
}

const KEY = 'pinfold.session'
type Listener = () => void

let current: SessionState | null = load()
let notice: string | null = null
let timer: ReturnType<typeof setTimeout> | undefined
const listeners = new Set<Listener>()

function load(): SessionState | null {
  try {
    const raw = sessionStorage.getItem(KEY)
    if (!raw) return null
    const parsed = JSON.parse(raw) as SessionState
    return parsed.expiresAt > Date.now() ? parsed : null
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
  // setTimeout cannot wait longer than ~24.8 days; tokens live hours
  const ms = Math.min(current.expiresAt - Date.now(), 2 ** 31 - 1)
  timer = setTimeout(() => session.expire('Your session expired. Please sign in again.'), Math.max(ms, 0))
}

export const session = {
  get: (): SessionState | null => current,
  token: (): string | null => current?.token ?? null,
  /** A message for the sign-in page (why the user is there), shown once. */
  notice: (): string | null => notice,
  start(state: SessionState): void {
    current = state
    notice = null
    sessionStorage.setItem(KEY, JSON.stringify(state))
    schedule()
    emit()
  },
  signOut(message: string | null = null): void {
    current = null
    notice = message
    sessionStorage.removeItem(KEY)
    clearTimeout(timer)
    emit()
  },
  expire(message: string): void {
    if (current) session.signOut(message)
  },
  subscribe(listener: Listener): () => void {
    listeners.add(listener)
    return () => listeners.delete(listener)
  },
}
schedule()
