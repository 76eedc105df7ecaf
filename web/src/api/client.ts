import createClient from 'openapi-fetch'
import type { components, paths } from './schema'
import { session } from '../lib/session'

/**
 * The one typed client of the REST API, generated from the coordinator's OpenAPI document
 * (web/openapi.json → src/api/schema.d.ts). Every JSON call in the portal goes through it.
 */
export const api = createClient<paths>({ baseUrl: window.location.origin, fetch: authorizedFetch })

/** Calls that answer 401 for wrong credentials, not for an expired token. */
const SIGN_IN_PATHS = ['/api/v1/auth/token', '/api/v1/auth/refresh']

/**
 * Sends the session's access token; on a 401 renews the session once and sends the request
 * again, so a token that expired (or a renewal that lost a race) never reaches the user.
 */
async function authorizedFetch(request: Request): Promise<Response> {
  if (request.headers.has('authorization') || SIGN_IN_PATHS.includes(new URL(request.url).pathname)) return fetch(request)
  const retry = request.clone()
  const token = await session.fresh()
  if (token) request.headers.set('authorization', `Bearer ${token}`)
  const response = await fetch(request)
  if (response.status !== 401 || !session.get()?.renewable) {
    if (response.status === 401 && token) session.expire('Your session has expired or was revoked. Please sign in again.')
    return response
  }
  const renewed = await session.renew()
  if (!renewed) return response
  retry.headers.set('authorization', `Bearer ${renewed}`)
  return fetch(retry)
}

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
