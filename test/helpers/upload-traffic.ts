import { randomBytes } from 'node:crypto'

/** An upload the coordinator acknowledged (multipart 201, or tus final PATCH 204 naming the upload). */
export interface AcknowledgedUpload {
  cid: string
  bytes: Buffer
  via: 'multipart' | 'tus'
}

export interface UploadTraffic {
  acknowledged: AcknowledgedUpload[]
  /** HTTP status → how many answers had it (uploads and reads). */
  statuses: Map<number, number>
  /** Answers the traffic did not expect (neither success nor an allowed refusal), for the failure message. */
  unexpected: string[]
  /** Reads answered 200 whose body differed from what was acknowledged. */
  wrongReads: number
  /** Requests that found no server (connection refused or reset): expected while a process is down. */
  connectionErrors: number
  /** Stops the workers and waits for their last request. */
  stop(): Promise<void>
}

export interface UploadTrafficOptions {
  /** One worker per item, each uploading this way in a loop (default: two multipart workers). */
  workers?: ('multipart' | 'tus')[]
  /** File sizes: a worker's i-th upload has `minBytes + (i * 7919) % spreadBytes` bytes. */
  minBytes?: number
  spreadBytes?: number
  /** A refusal that is not a fault (e.g. 503 during a database outage); anything else non-2xx is unexpected. */
  allowed?: (status: number, body: string) => boolean
  /** Whether a request that finds no server is expected (a process killed under the traffic). */
  serverMayBeDown?: boolean
}

/**
 * Uploads in a loop from a few concurrent workers and, after each upload, reads back a random
 * acknowledged one through `/ipfs/{cid}`, counting every answer: faults may refuse a request
 * but never lose an acknowledged upload or answer 200 with wrong bytes. The URL and token stay
 * valid across coordinator restarts on the same port (the token secret is persisted).
 */
export function startUploadTraffic(url: string, token: string, options: UploadTrafficOptions = {}): UploadTraffic {
  const auth = { authorization: `Bearer ${token}` }
  const allowed = options.allowed ?? (() => false)
  const traffic: Omit<UploadTraffic, 'stop'> = { acknowledged: [], statuses: new Map(), unexpected: [], wrongReads: 0, connectionErrors: 0 }
  let stopped = false
  const count = (status: number, body: string, what: string) => {
    traffic.statuses.set(status, (traffic.statuses.get(status) ?? 0) + 1)
    if (status >= 300 && !allowed(status, body)) traffic.unexpected.push(`${what} ${status}: ${body.slice(0, 300)}`)
  }
  const readBack = async () => {
    const earlier = traffic.acknowledged[Math.floor(Math.random() * traffic.acknowledged.length)]
    if (!earlier) return
    const read = await fetch(`${url}/ipfs/${earlier.cid}`, { headers: auth })
    const body = Buffer.from(await read.arrayBuffer())
    count(read.status, read.status === 200 ? '' : body.toString(), 'read')
    if (read.status === 200 && !body.equals(earlier.bytes)) traffic.wrongReads++
  }
  const worker = async (n: number, via: 'multipart' | 'tus') => {
    for (let i = 0; !stopped; i++) {
      const bytes = randomBytes((options.minBytes ?? 20_000) + ((i * 7919) % (options.spreadBytes ?? 1000)))
      try {
        const answer = via === 'tus' ? await tusUpload(url, auth, bytes, `t${n}-${i}.bin`) : await multipartUpload(url, auth, bytes, `w${n}-${i}.bin`)
        count(answer.status, answer.body, `${via} upload`)
        if (answer.cid) traffic.acknowledged.push({ cid: answer.cid, bytes, via })
        await readBack()
      } catch (error) {
        if (!options.serverMayBeDown) traffic.unexpected.push(`request failed: ${(error as Error).message}`)
        traffic.connectionErrors++
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
    }
  }
  const workers = (options.workers ?? ['multipart', 'multipart']).map((via, n) => worker(n, via))
  return Object.assign(traffic, {
    async stop() {
      stopped = true
      await Promise.all(workers)
    },
  })
}

interface UploadAnswer {
  status: number
  body: string
  /** Set only when the upload was acknowledged. */
  cid?: string
}

async function multipartUpload(url: string, auth: Record<string, string>, bytes: Buffer, name: string): Promise<UploadAnswer> {
  const form = new FormData()
  form.append('path', '/Library/traffic')
  form.append('file', new Blob([bytes]), name)
  const response = await fetch(`${url}/api/v1/uploads`, { method: 'POST', headers: auth, body: form })
  const body = await response.text()
  if (response.status !== 201) return { status: response.status, body }
  const entry = (JSON.parse(body) as { upload: { entries?: { cid: string }[] } }).upload.entries?.[0]
  return { status: response.status, body, ...(entry ? { cid: entry.cid } : {}) }
}

/** tus 1.0 creation, then the whole file in one PATCH; acknowledged when that PATCH names the upload. */
async function tusUpload(url: string, auth: Record<string, string>, bytes: Buffer, name: string): Promise<UploadAnswer> {
  const b64 = (s: string) => Buffer.from(s).toString('base64')
  const headers = { ...auth, 'tus-resumable': '1.0.0' }
  const created = await fetch(`${url}/api/v1/uploads/tus`, {
    method: 'POST',
    headers: { ...headers, 'upload-length': String(bytes.length), 'upload-metadata': `filename ${b64(name)},path ${b64('/Library/traffic')}` },
  })
  const location = created.headers.get('location')
  if (created.status !== 201 || !location) return { status: created.status, body: await created.text() }
  await created.body?.cancel()
  const patched = await fetch(new URL(location, url), {
    method: 'PATCH',
    headers: { ...headers, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
    body: bytes,
  })
  const body = await patched.text()
  const id = patched.headers.get('pinfold-upload-id')
  if (patched.status !== 204 || !id) return { status: patched.status, body }
  const upload = await fetch(`${url}/api/v1/uploads/${id}`, { headers: auth })
  const text = await upload.text()
  if (upload.status !== 200) return { status: upload.status, body: text }
  const cid = (JSON.parse(text) as { upload: { cid: string | null } }).upload.cid
  return { status: patched.status, body, ...(cid ? { cid } : {}) }
}

/**
 * Reads every acknowledged upload back through `/ipfs/{cid}`: `lost` = not answered 200,
 * `wrong` = answered 200 with other bytes. Sequential, so it adds no load of its own.
 */
export async function checkAcknowledged(url: string, token: string, uploads: AcknowledgedUpload[]): Promise<{ lost: string[]; wrong: string[] }> {
  const lost: string[] = []
  const wrong: string[] = []
  for (const upload of uploads) {
    const read = await fetch(`${url}/ipfs/${upload.cid}`, { headers: { authorization: `Bearer ${token}` } })
    const body = Buffer.from(await read.arrayBuffer())
    if (read.status !== 200) lost.push(`${upload.cid} (${upload.via}): ${read.status} ${body.toString().slice(0, 200)}`)
    else if (!body.equals(upload.bytes)) wrong.push(`${upload.cid} (${upload.via})`)
  }
  return { lost, wrong }
}
