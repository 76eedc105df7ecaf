import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { type TusTarget, tusCreate, tusOffset, tusPatch } from '../helpers/tus-client.ts'

const BODY_TIMEOUT_S = 1.5
const MAX_CONNECTIONS = 6
const MAX_OPEN_UPLOADS = 3
const EXPIRY_S = 2

/** Opens a raw TCP connection to the coordinator. */
function openSocket(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => resolve(socket))
    socket.once('error', reject)
  })
}

/** Everything the server sends until it closes the connection (at most `limitMs`); `timedOut` when it never closed. */
function readUntilClosed(socket: Socket, limitMs: number): Promise<{ text: string; closedAfterMs: number; timedOut: boolean }> {
  const started = Date.now()
  return new Promise((resolve) => {
    let text = ''
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({ text, closedAfterMs: Date.now() - started, timedOut: true })
    }, limitMs)
    socket.on('data', (chunk) => {
      text += chunk.toString()
    })
    socket.on('error', () => {})
    socket.once('close', () => {
      clearTimeout(timer)
      resolve({ text, closedAfterMs: Date.now() - started, timedOut: false })
    })
  })
}

async function waitFor(what: string, check: () => Promise<boolean>, limitMs = 15_000): Promise<void> {
  const deadline = Date.now() + limitMs
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/**
 * Issue 9 item 13 against a real `pinfold serve` with short limits: dripped bodies are cut,
 * one address cannot hold more than its connections, one account cannot keep more than its
 * open uploads, open uploads reserve their declared length in the quota, and an abandoned
 * tus upload is deleted (files and record).
 */
describe('request and upload bounds (real server, short limits)', () => {
  let coordinator: CoordinatorProcess
  let target: TusTarget

  before(async () => {
    coordinator = await startCoordinatorProcess({
      env: {
        PINFOLD_LIMITS_BODY_TIMEOUT_SECONDS: String(BODY_TIMEOUT_S),
        PINFOLD_LIMITS_MAX_CONNECTIONS_PER_ADDRESS: String(MAX_CONNECTIONS),
        PINFOLD_LIMITS_MAX_OPEN_UPLOADS_PER_ACCOUNT: String(MAX_OPEN_UPLOADS),
        PINFOLD_LIMITS_UPLOAD_EXPIRY_SECONDS: String(EXPIRY_S),
      },
    })
    target = { url: coordinator.url, token: await coordinator.token() }
  })

  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  it('a JSON body dripped slower than the body timeout gets 408 ERR_BODY_TIMEOUT and the connection closes', async () => {
    const socket = await openSocket(coordinator.url)
    const reading = readUntilClosed(socket, 15_000)
    socket.write('POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"apiKey":')
    const drip = setInterval(() => socket.writable && socket.write(' '), 200)
    const answer = await reading
    clearInterval(drip)
    assert.equal(answer.timedOut, false, 'the server closed the connection')
    assert.match(answer.text, /^HTTP\/1\.1 408/)
    assert.match(answer.text, /ERR_BODY_TIMEOUT/)
    assert.ok(answer.closedAfterMs < BODY_TIMEOUT_S * 1000 + 3000, `closed after ${answer.closedAfterMs} ms`)
  })

  it('an upload body that stops arriving is cut and the upload ends as an error, not stuck receiving', async () => {
    const boundary = 'bnd'
    const socket = await openSocket(coordinator.url)
    const reading = readUntilClosed(socket, 15_000)
    socket.write(
      `POST /api/v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${target.token}\r\n` +
        `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 10000000\r\n\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="stalled.bin"\r\nContent-Type: application/octet-stream\r\n\r\n` +
        'x'.repeat(50_000),
    )
    const answer = await reading
    assert.equal(answer.timedOut, false, 'the stalled upload was cut')
    assert.ok(answer.closedAfterMs < BODY_TIMEOUT_S * 1000 + 3000, `closed after ${answer.closedAfterMs} ms`)
    await waitFor('the stalled upload to end', async () => {
      const response = await fetch(`${coordinator.url}/api/v1/uploads`, { headers: { authorization: `Bearer ${target.token}` } })
      const { uploads } = (await response.json()) as { uploads: { status: string }[] }
      return uploads.length === 1 && uploads[0]?.status === 'error'
    })
  })

  it('connections beyond the per-address cap get 429 ERR_TOO_MANY_CONNECTIONS; a freed slot is usable again', async () => {
    const held = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => openSocket(coordinator.url)))
    try {
      const extra = await openSocket(coordinator.url)
      const reading = readUntilClosed(extra, 10_000)
      extra.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
      const answer = await reading
      assert.match(answer.text, /^HTTP\/1\.1 429/)
      assert.match(answer.text, /ERR_TOO_MANY_CONNECTIONS/)
    } finally {
      for (const socket of held) socket.destroy()
    }
    await waitFor('a connection to be accepted again', async () => (await fetch(`${coordinator.url}/healthz`).catch(() => undefined))?.status === 200)
  })

  it('open tus uploads are capped per account, reserve their declared length, and expire when abandoned', async () => {
    const me = (await (await fetch(`${coordinator.url}/api/v1/account`, { headers: { authorization: `Bearer ${target.token}` } })).json()) as { id: string }
    const quota = await fetch(`${coordinator.url}/api/v1/accounts/${me.id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${target.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ quotaStorageBytes: 1_000_000 }),
    })
    assert.equal(quota.status, 200, await quota.text())

    const first = await tusCreate(target, 600_000, { filename: 'tus-a.bin', path: '/Library/bounds' })
    assert.equal(first.status, 201, first.body)
    const firstId = first.id as string
    // 600,000 of the 1,000,000 are reserved by the open upload: another 600,000 does not fit
    const overQuota = await tusCreate(target, 600_000, { filename: 'tus-b.bin', path: '/Library/bounds' })
    assert.equal(overQuota.status, 507, overQuota.body)
    assert.match(overQuota.body, /ERR_QUOTA_EXCEEDED/)

    const small: string[] = []
    for (let i = 1; i < MAX_OPEN_UPLOADS; i++) {
      const created = await tusCreate(target, 1000, { filename: `tus-small-${i}.bin`, path: '/Library/bounds' })
      assert.equal(created.status, 201, created.body)
      small.push(created.id as string)
    }
    const tooMany = await tusCreate(target, 1000, { filename: 'tus-one-more.bin', path: '/Library/bounds' })
    assert.equal(tooMany.status, 429, tooMany.body)
    assert.match(tooMany.body, /ERR_TOO_MANY_UPLOADS/)

    // the first upload receives some bytes, then its client goes away: it expires
    assert.equal((await tusPatch(target, firstId, 0, new Uint8Array(1000))).status, 204)
    const record = await fetch(`${coordinator.url}/api/v1/uploads/${firstId}`, { headers: { authorization: `Bearer ${target.token}` } })
    assert.equal(record.status, 200, 'an open upload has a record')
    assert.equal(((await record.json()) as { upload: { status: string } }).upload.status, 'receiving')
    await waitFor('the abandoned uploads to expire', async () => (await tusOffset(target, firstId)).status === 404, EXPIRY_S * 1000 + 15_000)
    const gone = await fetch(`${coordinator.url}/api/v1/uploads/${firstId}`, { headers: { authorization: `Bearer ${target.token}` } })
    assert.equal(gone.status, 404, 'the record is deleted with the files')
    const left = await readdir(join(coordinator.dataDir, 'uploads', 'tus'))
    assert.deepEqual(left.filter((name) => name.startsWith(firstId)), [])
    // its reservation and its slot are free again
    await waitFor('the small uploads to expire too', async () => (await tusOffset(target, small[0] as string)).status === 404, EXPIRY_S * 1000 + 15_000)
    const again = await tusCreate(target, 600_000, { filename: 'tus-c.bin', path: '/Library/bounds' })
    assert.equal(again.status, 201, again.body)
  })
})
