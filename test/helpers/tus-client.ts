import { request } from 'node:http'

/** A raw tus 1.0 client for tests that need to control every byte and moment. */
export interface TusTarget {
  url: string
  token: string
}

const TUS = { 'tus-resumable': '1.0.0' }

function metadata(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([key, value]) => `${key} ${Buffer.from(value).toString('base64')}`)
    .join(',')
}

/** POST: creates an upload of `length` bytes; answers the response and the upload id (from Location). */
export async function tusCreate(target: TusTarget, length: number, fields: Record<string, string>): Promise<{ status: number; id?: string; body: string }> {
  const response = await fetch(`${target.url}/api/v1/uploads/tus`, {
    method: 'POST',
    headers: { ...TUS, authorization: `Bearer ${target.token}`, 'upload-length': String(length), 'upload-metadata': metadata(fields) },
  })
  const location = response.headers.get('location')
  const id = location?.split('/').at(-1)
  return { status: response.status, body: await response.text(), ...(id ? { id } : {}) }
}

/** PATCH: sends `bytes` at `offset` and waits for the answer. */
export async function tusPatch(target: TusTarget, id: string, offset: number, bytes: Uint8Array): Promise<Response> {
  return fetch(`${target.url}/api/v1/uploads/tus/${id}`, {
    method: 'PATCH',
    headers: { ...TUS, authorization: `Bearer ${target.token}`, 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
    body: bytes as Uint8Array<ArrayBuffer>,
  })
}

/**
 * PATCH without waiting for the answer: resolves once every byte was handed to the socket
 * (the caller can crash the server right then); the answer, if any, is ignored.
 */
export function tusPatchSent(target: TusTarget, id: string, offset: number, bytes: Uint8Array): Promise<void> {
  const url = new URL(`${target.url}/api/v1/uploads/tus/${id}`)
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'PATCH',
      headers: {
        ...TUS,
        authorization: `Bearer ${target.token}`,
        'upload-offset': String(offset),
        'content-type': 'application/offset+octet-stream',
        'content-length': String(bytes.byteLength),
      },
    })
    req.on('error', () => {})
    req.on('response', (res) => res.resume())
    req.end(bytes, () => resolve())
    req.once('error', reject)
  })
}

/** HEAD: the upload's offset, or the status when there is none. */
export async function tusOffset(target: TusTarget, id: string): Promise<{ status: number; offset?: number }> {
  const response = await fetch(`${target.url}/api/v1/uploads/tus/${id}`, { method: 'HEAD', headers: { ...TUS, authorization: `Bearer ${target.token}` } })
  const offset = response.headers.get('upload-offset')
  return { status: response.status, ...(offset === null ? {} : { offset: Number(offset) }) }
}
