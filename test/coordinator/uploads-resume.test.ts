import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import * as tus from 'tus-js-client'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { runPinfold } from '../helpers/run-pinfold.ts'
import { getJson, kuboCid, openCoordinatorRegistry, postUpload, randomBytes, type UploadBody, uploadForm } from './uploads-helpers.ts'

describe('uploads survive SIGKILL and resume with tus', () => {
  const started: CoordinatorProcess[] = []
  after(async () => {
    for (const c of started) await c.stop()
    for (const dir of new Set(started.map((c) => c.dataDir))) await started.find((c) => c.dataDir === dir)?.cleanup()
  })

  it('after SIGKILL during concurrent uploads, every answered upload is intact and the rest are error', async () => {
    const first = await startCoordinatorProcess()
    started.push(first)
    const token = await first.token()
    // small ones finish quickly, large ones are still arriving or importing at the kill
    const sizes = [50_000, 80_000, 120_000, 24_000_000, 30_000_000, 36_000_000]
    const answered: { id: string; cid: string; path: string; seed: number; size: number }[] = []
    const attempts = sizes.map(async (size, i) => {
      const seed = 100 + i
      const result = await postUpload(first, token, uploadForm({ path: '/Library/crash' }, [[`f${i}.bin`, randomBytes(size, seed)]]))
      const entry = result.body.upload.entries?.[0]
      if (result.status === 201 && entry) answered.push({ id: result.body.upload.id, cid: entry.cid, path: entry.path, seed, size })
    })
    const settled = Promise.allSettled(attempts)
    while (answered.length < 2) await new Promise((resolve) => setTimeout(resolve, 5))
    await first.kill()
    await settled
    assert.ok(answered.length >= 2 && answered.length < sizes.length, `answered ${answered.length}`)

    const second = await startCoordinatorProcess({ dataDir: first.dataDir, admin: first.admin })
    started.push(second)
    const token2 = await second.token()
    const { body } = await getJson<{ uploads: UploadBody['upload'][] }>(second, token2, '/api/v1/uploads')
    for (const upload of body.uploads) {
      const wasAnswered = answered.some((a) => a.id === upload.id)
      if (wasAnswered) assert.equal(upload.status, 'done')
      else if (upload.status !== 'done') {
        assert.equal(upload.status, 'error')
        assert.equal(upload.reason, 'interrupted by restart')
      }
    }
    await second.stop()
    const registry = await openCoordinatorRegistry(first.dataDir)
    try {
      const admin = await registry.accounts.getByEmail(first.admin.email)
      assert.ok(admin)
      for (const a of answered) {
        const entry = await registry.entries.getByPath(admin.id, a.path)
        assert.equal(entry?.cid, a.cid, a.path)
      }
    } finally {
      await registry.close()
    }
    for (const a of answered) {
      const cat = await runPinfold(['cat', a.cid], { repo: `${first.dataDir}/repo` })
      assert.equal(cat.code, 0, cat.stderr)
      assert.ok(Buffer.from(randomBytes(a.size, a.seed)).equals(cat.stdoutBytes), `bytes of ${a.path}`)
    }
  })

  it('a tus upload aborted halfway resumes from its offset and imports to the same CID as ipfs add', async () => {
    const coordinator = await startCoordinatorProcess()
    started.push(coordinator)
    const token = await coordinator.token()
    const data = Buffer.from(randomBytes(20 * 1024 * 1024, 7))
    const options = {
      endpoint: `${coordinator.url}/api/v1/uploads/tus`,
      headers: { authorization: `Bearer ${token}` },
      metadata: { filename: 'big.bin', path: '/Library/tus' },
      chunkSize: 1024 * 1024,
      retryDelays: null,
    }
    let uploadUrl = ''
    await new Promise<void>((resolve, reject) => {
      const upload = new tus.Upload(data, {
        ...options,
        onError: reject,
        onProgress: (sent, total) => {
          if (sent > total * 0.4 && uploadUrl === '') {
            uploadUrl = upload.url ?? ''
            upload.abort().then(resolve, reject)
          }
        },
      })
      upload.start()
    })
    assert.ok(uploadUrl.includes('/api/v1/uploads/tus/'))
    const head = await fetch(uploadUrl, { method: 'HEAD', headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' } })
    const offset = Number(head.headers.get('upload-offset'))
    assert.ok(offset > 0 && offset < data.length, `offset ${offset}`)

    let resentBytes = 0
    let uploadId = ''
    await new Promise<void>((resolve, reject) => {
      const upload = new tus.Upload(data, {
        ...options,
        uploadUrl,
        onError: reject,
        onChunkComplete: (chunkSize) => {
          resentBytes += chunkSize
        },
        onAfterResponse: (_req, res) => {
          uploadId ||= res.getHeader('Pinfold-Upload-Id') ?? ''
        },
        onSuccess: () => resolve(),
      })
      upload.start()
    })
    assert.equal(resentBytes, data.length - offset, 'only the remainder was sent again')
    assert.ok(uploadId, 'the finishing PATCH names the upload')
    const { body } = await getJson<UploadBody>(coordinator, token, `/api/v1/uploads/${uploadId}`)
    assert.equal(body.upload.status, 'done')
    assert.equal(body.upload.cid, await kuboCid(data))
  })
})
