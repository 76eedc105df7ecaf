import createClient, { type Middleware } from 'openapi-fetch'
import type { components, paths } from './schema'
import { session } from '../lib/session'

/**
 * The one typed client of the REST API, generated from the coordinator's OpenAPI document
 * (web/openapi.json → src/api/schema.d.ts). Every JSON call in the portal goes through it.
 */
export const api = createClient<paths>({ baseUrl: window.location.origin })

const auth: Middleware = {
  onRequest({ request }) {
    const token = session.token()
    if (token && !request.headers.has('authorization')) request.headers.set('authorization', `Bearer ${token}`)
    return request
  },
  onResponse({ request, response }) {
    // an expired or revoked token: sign out with a clear message (not for the sign-in call itself)
    if (response.status === 401 && !new URL(request.url).pathname.endsWith('/auth/token') && session.token()) {
      session.expire('Your session has expired or was revoked. Please sign in again.')
    }
    return response
  },
}
api.use(auth)

export type Schemas = components['schemas']
type Json<P extends keyof paths, M extends 'get' | 'post' | 'patch' | 'delete', S extends number> = paths[P][M] extends {
  responses: { [K in S]: { content: { 'application/json': infer T } } }
}
  ? T
  : never

export type EntryView = Json<'/api/v1/entries/{id}', 'get', 200>
export type ListPage = Json<'/api/v1/entries/children', 'get', 200>
export type DeleteResult = Json<'/api/v1/entries/{id}', 'delete', 200>
export type ApiKey = Json<'/api/v1/keys', 'get', 200>['keys'][number]
export type CreatedKey = Json<'/api/v1/keys', 'post', 201>
export type AccountDetail = Json<'/api/v1/account', 'get', 200>
export type Account = Json<'/api/v1/accounts', 'get', 200>['accounts'][number]
export type UsageSeries = Json<'/api/v1/usage/series', 'get', 200>
export type Statements = Json<'/api/v1/billing/statements', 'get', 200>
export type Upload = Json<'/api/v1/uploads/{id}', 'get', 200>['upload']
export type SortKey = NonNullable<NonNullable<paths['/api/v1/entries/children']['get']['parameters']['query']>['sort']>

/** The API's one error shape; anything else (a network failure) becomes a message too. */
export function errorMessage(error: unknown, fallback = 'request failed'): string {
  if (error && typeof error === 'object' && 'error' in error) {
    const inner = (error as { error?: { message?: string; code?: string } }).error
    if (inner?.message) return inner.message
  }
  if (error instanceof Error) return error.message
  return fallback
}

/** Throws the API's error message, else returns the data: for `await unwrap(api.GET(…))`. */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call
  if (error !== undefined || !response.ok) throw new ApiError(response.status, errorMessage(error, `${response.status} ${response.statusText}`))
  return data as T
}

export class ApiError extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}
