import { join } from 'node:path'
import { importBytes, MemoryBlockstore } from '../../src/core/index.ts'
import { openRegistry, type Registry } from '../../src/registry/index.ts'
import type { CoordinatorProcess } from '../helpers/coordinator-process.ts'

export interface UploadBody {
  upload: {
    id: string
    status: string
    stage: string | null
    reason: string | null
    cid: string | null
    bytes: number
    entries?: { id: string; path: string; kind: string; cid: string; size: number }[]
  }
  error?: { code: string; message: string }
}

/** A multipart form: setting fields first, then file parts named by relative path. */
export function uploadForm(fields: Record<string, string>, files: [string, Uint8Array][]): FormData {
  const form = new FormData()
  for (const [name, value] of Object.entries(fields)) form.append(name, value)
  for (const [path, bytes] of files) form.append('file', new Blob([bytes]), path)
  return form
}

export async function postUpload(
  coordinator: CoordinatorProcess,
  token: string,
  form: FormData,
  query = '',
): Promise<{ status: number; body: UploadBody & { error?: { code: string } } }> {
  const response = await fetch(`${coordinator.url}/api/v1/uploads${query}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  })
  return { status: response.status, body: (await response.json()) as UploadBody }
}

export async function getJson<T>(coordinator: CoordinatorProcess, token: string, path: string): Promise<{ status: number; body: T }> {
  const response = await fetch(`${coordinator.url}${path}`, { headers: { authorization: `Bearer ${token}` } })
  return { status: response.status, body: (await response.json()) as T }
}

export async function kuboCid(bytes: Uint8Array): Promise<string> {
  return (await importBytes(bytes, new MemoryBlockstore())).cid.toString()
}

/** Opens the coordinator's SQLite registry directly (only while the coordinator is stopped). */
export function openCoordinatorRegistry(dataDir: string): Promise<Registry> {
  return openRegistry(`sqlite:${join(dataDir, 'registry.sqlite')}`)
}

export function randomBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed * 2654435761 + 1
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

export async function waitFor<T>(read: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (value !== undefined) return value
    if (Date.now() > until) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
