import assert from 'node:assert/strict'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { randomBytes } from '../coordinator/uploads-helpers.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { type TusTarget, tusCreate, tusOffset, tusPatch, tusPatchSent } from '../helpers/tus-client.ts'

interface UploadView {
  id: string
  status: string
  reason: string | null
  cid: string | null
}

const SIZE = 6_000_000
const HALF = 2_000_000
/** When the coordinator is killed: ms after the final PATCH's bytes were sent, or after its answer. */
const MOMENTS: (number | 'acknowledged')[] = [0, 40, 150, 'acknowledged']

async function uploadRecord(target: TusTarget, id: string): Promise<{ status: number; upload?: UploadView }> {
  const response = await fetch(`${target.url}/api/v1/uploads/${id}`, { headers: { authorization: `Bearer ${target.token}` } })
  const body = (await response.json()) as { upload?: UploadView }
  return { status: response.status, ...(body.upload ? { upload: body.upload } : {}) }
}

/** Polls until the upload has ended (done or error), for at most 60 s. */
async function ended(target: TusTarget, id: string): Promise<UploadView> {
  const deadline = Date.now() + 60_000
  for (;;) {
    const record = await uploadRecord(target, id)
    assert.equal(record.status, 200, `GET /api/v1/uploads/${id} after the restart`)
    const upload = record.upload as UploadView
    if (upload.status === 'done' || upload.status === 'error') return upload
    assert.ok(Date.now() < deadline, `upload ${id} still ${upload.status}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function bytesOnDisk(dataDir: string, id: string): Promise<number> {
  return (await stat(join(dataDir, 'uploads', 'tus', id)).catch(() => undefined))?.size ?? -1
}

/**
 * Issue 10 item 7: a coordinator SIGKILLed around the last tus PATCH. After a restart every
 * upload has a record (never 404), one whose bytes were all on disk is imported (`done`,
 * byte-identical), one with bytes missing resumes and completes, and `uploads/tus/` keeps
 * nothing of an ended upload.
 */
describe('tus uploads after a coordinator crash (real processes, SIGKILL)', () => {
  const started: CoordinatorProcess[] = []
  after(async () => {
    for (const c of started) await c.stop()
    await started[0]?.cleanup()
  })

  it('every upload ends done or failed with a reason, none is left behind, done ones read back byte-identical', async (t) => {
    let coordinator = await startCoordinatorProcess()
    started.push(coordinator)
    const { dataDir, admin } = coordinator
    const uploads: { id: string; seed: number; moment: number | 'acknowledged'; completeAtKill: boolean }[] = []
    for (const [i, moment] of MOMENTS.entries()) {
      const target = { url: coordinator.url, token: await coordinator.token() }
      const seed = 700 + i
      const data = randomBytes(SIZE, seed)
      const created = await tusCreate(target, SIZE, { filename: `crash-${i}.bin`, path: '/Library/tus-crash' })
      assert.equal(created.status, 201, created.body)
      const id = created.id as string
      assert.equal((await tusPatch(target, id, 0, data.subarray(0, HALF))).status, 204)
      if (moment === 'acknowledged') {
        const last = await tusPatch(target, id, HALF, data.subarray(HALF))
        assert.equal(last.status, 204)
      } else {
        await tusPatchSent(target, id, HALF, data.subarray(HALF))
        if (moment > 0) await new Promise((resolve) => setTimeout(resolve, moment))
      }
      await coordinator.kill()
      const completeAtKill = (await bytesOnDisk(dataDir, id)) === SIZE
      uploads.push({ id, seed, moment, completeAtKill })
      coordinator = await startCoordinatorProcess({ dataDir, admin })
      started.push(coordinator)
    }
    const target = { url: coordinator.url, token: await coordinator.token() }
    for (const upload of uploads) {
      const record = await uploadRecord(target, upload.id)
      assert.equal(record.status, 200, `upload killed at ${upload.moment} has a record after the restart`)
      if (record.upload?.status === 'receiving') {
        // bytes were missing at the kill: the client resumes from the server's offset
        const { offset } = await tusOffset(target, upload.id)
        assert.ok(offset !== undefined && offset < SIZE, `offset ${offset}`)
        const data = randomBytes(SIZE, upload.seed)
        assert.equal((await tusPatch(target, upload.id, offset, data.subarray(offset))).status, 204)
      }
      const end = await ended(target, upload.id)
      t.diagnostic(`killed at ${upload.moment} (all bytes on disk: ${upload.completeAtKill}) → ${end.status}${end.reason ? ` (${end.reason})` : ''}`)
      if (end.status === 'error') assert.ok(end.reason, 'a failed upload says why')
      if (upload.completeAtKill) assert.equal(end.status, 'done', 'all its bytes were received: it is imported')
      if (end.status === 'done') {
        const read = await fetch(`${target.url}/ipfs/${end.cid}`, { headers: { authorization: `Bearer ${target.token}` } })
        assert.equal(read.status, 200)
        assert.ok(Buffer.from(await read.arrayBuffer()).equals(Buffer.from(randomBytes(SIZE, upload.seed))), 'byte-identical')
      }
    }
    const left = await readdir(join(dataDir, 'uploads', 'tus'))
    const ids = new Set(uploads.map((u) => u.id))
    assert.deepEqual(left.filter((name) => ids.has(name.replace(/\.json$/, ''))), [], 'no files of ended uploads')
  })
})
