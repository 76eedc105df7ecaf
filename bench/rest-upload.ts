import { multipartBody } from '../src/cli/client/multipart-body.ts'
import type { CoordinatorProcess } from '../test/helpers/coordinator-process.ts'

/**
 * `POST /api/v1/uploads` of one local file (kubo profile, streamed with a known length);
 * resolves with the root CID once the coordinator answers `done`.
 */
export async function uploadFileOverHttp(
  coordinator: CoordinatorProcess,
  file: { path: string; size: number; name: string },
  options: { timeoutMs: number; onBytes?: (sent: number) => void },
): Promise<string> {
  const token = await coordinator.token()
  const upload = multipartBody(
    { path: '/Library', mode: 'files', profile: 'kubo' },
    [{ name: file.name, source: file.path, size: file.size }],
    options.onBytes ?? (() => {}),
  )
  const response = await fetch(`${coordinator.url}/api/v1/uploads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': upload.contentType, 'content-length': String(upload.contentLength) },
    body: upload.body,
    duplex: 'half',
    signal: AbortSignal.timeout(options.timeoutMs),
  } as RequestInit)
  const text = await response.text()
  if (response.status !== 201) throw new Error(`upload answered ${response.status}: ${text.slice(0, 500)}`)
  const { upload: result } = JSON.parse(text) as { upload: { status: string; cid: string | null } }
  if (result.status !== 'done' || !result.cid) throw new Error(`upload not done: ${text.slice(0, 500)}`)
  return result.cid
}
