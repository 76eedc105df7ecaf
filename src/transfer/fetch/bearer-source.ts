import type { DagSource } from './fetch-dag.ts'

/** A source presented `token` as `Authorization: Bearer` (no header without one). */
export function bearerSource(url: string, token: string | undefined): DagSource {
  return { url, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } }
}
