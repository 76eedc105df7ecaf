import { PinfoldError } from '../../core/index.ts'
import { readSession, type Session, writeSession } from './session-store.ts'

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>
  json?: unknown
  body?: ReadableStream<Uint8Array> | string | Uint8Array
  headers?: Record<string, string>
  signal?: AbortSignal
}

/** A thin client of the coordinator's REST API that turns error bodies into PinfoldErrors. */
export interface ApiClient {
  readonly url: string
  /** Sends a request and returns the raw response (2xx only; errors throw). */
  fetch(method: string, path: string, options?: RequestOptions): Promise<Response>
  /** Sends a request and parses a JSON answer (undefined for 204). */
  json<T>(method: string, path: string, options?: RequestOptions): Promise<T>
}

const RENEW_BEFORE_MS = 30_000

/** Exchanges an API key for an access token. */
export async function requestToken(url: string, apiKey: string): Promise<{ accessToken: string; expiresAt: number }> {
  const response = await send(url, undefined, 'POST', '/api/v1/auth/token', { json: { apiKey } })
  const body = (await response.json()) as { accessToken: string; expiresAt: string }
  return { accessToken: body.accessToken, expiresAt: Date.parse(body.expiresAt) }
}

/** Ends the stored session's access token on the server; best effort (the key stays valid). */
export async function signOutSession(session: Session): Promise<void> {
  if (session.expiresAt <= Date.now()) return
  await send(session.url, session.accessToken, 'POST', '/api/v1/auth/sign-out', { json: {} }).catch(() => undefined)
}

/** A client for the logged-in session, renewing the access token from the stored key when it nears expiry. */
export async function sessionClient(env: NodeJS.ProcessEnv): Promise<ApiClient> {
  let session = await readSession(env)
  if (!session) {
    throw new PinfoldError('ERR_NOT_LOGGED_IN', 'not logged in: run `pinfold login --url URL --api-key KEY`', {
      userError: true,
    })
  }
  const current = session
  const token = async (): Promise<string> => {
    if (session && session.expiresAt - RENEW_BEFORE_MS > Date.now()) return session.accessToken
    const renewed = await requestToken(current.url, current.apiKey)
    session = { ...current, ...renewed } satisfies Session
    await writeSession(env, session)
    return session.accessToken
  }
  return {
    url: current.url,
    fetch: async (method, path, options) => send(current.url, await token(), method, path, options),
    json: async <T>(method: string, path: string, options?: RequestOptions) => {
      const response = await send(current.url, await token(), method, path, options)
      return (response.status === 204 ? undefined : await response.json()) as T
    },
  }
}

async function send(base: string, token: string | undefined, method: string, path: string, options: RequestOptions = {}) {
  const url = new URL(path, base)
  for (const [key, value] of Object.entries(options.query ?? {})) {
    if (value !== undefined) url.searchParams.set(key, String(value))
  }
  const headers: Record<string, string> = { ...options.headers }
  if (token) headers.authorization = `Bearer ${token}`
  let body = options.body
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(options.json)
  }
  let response: Response
  try {
    response = await fetch(url, { method, headers, body, signal: options.signal, duplex: 'half' } as RequestInit)
  } catch (error) {
    throw new PinfoldError('ERR_UNREACHABLE', `cannot reach ${base}: ${(error as Error).cause ?? (error as Error).message}`, {
      userError: true,
    })
  }
  if (!response.ok) throw await errorFrom(response)
  return response
}

async function errorFrom(response: Response): Promise<PinfoldError> {
  const text = await response.text().catch(() => '')
  try {
    const { error } = JSON.parse(text) as { error: { code: string; message: string } }
    return new PinfoldError(error.code, error.message, { userError: response.status < 500 })
  } catch {
    return new PinfoldError('ERR_HTTP', `HTTP ${response.status}: ${text.slice(0, 200)}`, { userError: response.status < 500 })
  }
}
