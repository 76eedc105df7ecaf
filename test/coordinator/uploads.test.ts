import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { importPaths, MemoryBlockstore } from '../../src/core/index.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import {
  getJson,
  kuboCid,
  openCoordinatorRegistry,
  postUpload,
  randomBytes,
  type UploadBody,
  uploadForm,
  waitFor,
} from './uploads-helpers.ts'

const text = (s: string) => new TextEncoder().encode(s)

describe('uploads (multipart) against a real coordinator', () => {
  let coordinator: CoordinatorProcess
  let token: string
  before(async () => {
    coordinator = await startCoordinatorProcess()
    token = await coordinator.token()
  })
  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  it('stores a file with the CID `ipfs add` gives the same bytes', async () => {
    const bytes = randomBytes(700_000, 1)
    const { status, body } = await postUpload(coordinator, token, uploadForm({ path: '/Library/one' }, [['data.bin', bytes]]))
    assert.equal(status, 201, JSON.stringify(body))
    assert.equal(body.upload.status, 'done')
    assert.equal(body.upload.bytes, bytes.length)
    const cid = await kuboCid(bytes)
    assert.equal(body.upload.cid, cid)
    assert.deepEqual(
      body.upload.entries?.map((e) => [e.path, e.kind, e.cid, e.size]),
      [['/Library/one/data.bin', 'file', cid, bytes.length]],
    )
    const status2 = await getJson<UploadBody>(coordinator, token, `/api/v1/uploads/${body.upload.id}`)
    assert.equal(status2.body.upload.status, 'done')
  })

  it('files mode places each file under its relative path, creating directories', async () => {
    const files: [string, Uint8Array][] = [
      ['docs/a.txt', text('a')],
      ['docs/deep/er/b.txt', text('bb')],
      ['c.txt', text('ccc')],
    ]
    const { status, body } = await postUpload(coordinator, token, uploadForm({ path: '/Library/new/target' }, files))
    assert.equal(status, 201, JSON.stringify(body))
    const paths = body.upload.entries?.map((e) => e.path)
    assert.deepEqual(paths, ['/Library/new/target/docs/a.txt', '/Library/new/target/docs/deep/er/b.txt', '/Library/new/target/c.txt'])
    for (const [i, [, bytes]] of files.entries()) assert.equal(body.upload.entries?.[i]?.cid, await kuboCid(bytes))
  })

  it('folder mode stores the tree as ONE directory CID equal to adding the same tree from disk', async () => {
    const files: [string, Uint8Array][] = [
      ['photos/b.jpg', randomBytes(300_000, 2)],
      ['photos/a.txt', text('hello')],
      ['photos/sub/zz.txt', text('zz')],
      ['photos/sub/inner/x', randomBytes(10, 3)],
    ]
    const dir = await mkdtemp(join(tmpdir(), 'pinfold-upload-tree-'))
    try {
      for (const [path, bytes] of files) {
        await mkdir(dirname(join(dir, path)), { recursive: true })
        await writeFile(join(dir, path), bytes)
      }
      let expected = ''
      for await (const entry of importPaths([join(dir, 'photos')], new MemoryBlockstore())) expected = entry.cid.toString()
      const { status, body } = await postUpload(coordinator, token, uploadForm({ mode: 'folder', path: '/Library/albums' }, files))
      assert.equal(status, 201, JSON.stringify(body))
      assert.equal(body.upload.cid, expected)
      assert.deepEqual(
        body.upload.entries?.map((e) => [e.path, e.kind, e.cid]),
        [['/Library/albums/photos', 'folder', expected]],
      )
      const named = await postUpload(coordinator, token, uploadForm({ mode: 'folder', name: 'renamed' }, files))
      assert.equal(named.body.upload.entries?.[0]?.path, '/Library/renamed')
      assert.equal(named.body.upload.cid, expected)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('refuses unsafe relative paths with 400 and stores nothing', async () => {
    const before = await getJson<{ uploads: unknown[] }>(coordinator, token, '/api/v1/uploads')
    for (const name of ['../escape.txt', 'a/../b.txt', 'a//b', './a', 'a\\b', '/abs']) {
      const { status, body } = await postUpload(coordinator, token, uploadForm({}, [[name, text('x')]]))
      assert.equal(status, 400, name)
      assert.equal(body.error?.code, 'ERR_INVALID_PATH', name)
    }
    const later = await getJson<{ uploads: unknown[] }>(coordinator, token, '/api/v1/uploads')
    assert.equal(later.body.uploads.length, before.body.uploads.length)
  })

  it('async=true answers 202 right after receiving; the status then reaches done', async () => {
    const { status, body } = await postUpload(coordinator, token, uploadForm({}, [['later.bin', randomBytes(2_000_000, 4)]]), '?async=true')
    assert.equal(status, 202, JSON.stringify(body))
    assert.ok(['importing', 'saving', 'done'].includes(body.upload.status))
    const done = await waitFor(async () => {
      const { body: s } = await getJson<UploadBody>(coordinator, token, `/api/v1/uploads/${body.upload.id}`)
      return s.upload.status === 'done' ? s.upload : undefined
    })
    assert.equal(done.cid, await kuboCid(randomBytes(2_000_000, 4)))
  })

  it('a truncated multipart body fails the upload, removes its files, and the server keeps serving', async () => {
    const boundary = 'pinfoldboundary'
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${coordinator.url}/api/v1/uploads`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': String(head.length + 1_000_000),
        },
      })
      req.on('error', () => resolve())
      req.on('response', (res) => {
        res.resume()
        resolve()
      })
      req.write(head)
      req.write(randomBytes(300_000, 5), () => setTimeout(() => req.destroy(), 200))
    })
    const failed = await waitFor(async () => {
      const { body } = await getJson<{ uploads: UploadBody['upload'][] }>(coordinator, token, '/api/v1/uploads')
      const newest = body.uploads[0]
      return newest?.status === 'error' ? newest : undefined
    })
    assert.equal(failed.stage, 'receiving')
    assert.deepEqual(await readdir(join(coordinator.dataDir, 'uploads', 'multipart')), [])
    const ok = await postUpload(coordinator, token, uploadForm({}, [['after.txt', text('still here')]]))
    assert.equal(ok.status, 201)
  })

  it('unknown upload ids are 404', async () => {
    const { status, body } = await getJson<UploadBody>(coordinator, token, '/api/v1/uploads/nope')
    assert.equal(status, 404)
    assert.equal(body.error?.code, 'ERR_UPLOAD_NOT_FOUND')
  })
})

describe('upload limits, quotas and account isolation', () => {
  let coordinator: CoordinatorProcess
  let adminToken: string
  let userToken: string
  const env = { PINFOLD_LIMITS_MAX_UPLOAD_BYTES: String(300_000) }
  before(async () => {
    const first = await startCoordinatorProcess({ env })
    await first.stop()
    // no account-admin route is assumed here: create a user with a small quota in the registry
    const registry = await openCoordinatorRegistry(first.dataDir)
    const user = await registry.accounts.create({ email: 'user@example.com', quotaStorageBytes: 150_000 })
    const { secret } = await registry.apiKeys.create(user.id, { scopes: ['read', 'write'] })
    await registry.close()
    coordinator = await startCoordinatorProcess({ env, dataDir: first.dataDir, admin: first.admin })
    adminToken = await coordinator.token()
    userToken = await coordinator.token(secret)
  })
  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  it('refuses an upload over limits.maxUploadBytes with 413 (declared length)', async () => {
    const { status, body } = await postUpload(coordinator, adminToken, uploadForm({}, [['big.bin', randomBytes(600_000, 6)]]))
    assert.equal(status, 413)
    assert.equal(body.error?.code, 'ERR_UPLOAD_TOO_LARGE')
  })

  it('stops a chunked upload the moment it crosses the limit', async () => {
    const result = await new Promise<{ status?: number; body: string }>((resolve) => {
      const boundary = 'b0undary'
      const req = httpRequest(`${coordinator.url}/api/v1/uploads`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
      })
      req.on('error', () => resolve({ body: '' }))
      req.on('response', (res) => {
        let body = ''
        res.on('data', (c: Buffer) => {
          body += c.toString()
        })
        res.on('end', () => resolve({ status: res.statusCode, body }))
      })
      req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.bin"\r\n\r\n`)
      let sent = 0
      const pump = () => {
        if (sent > 2_000_000 || req.destroyed) return
        sent += 64 * 1024
        req.write(randomBytes(64 * 1024, sent), () => setImmediate(pump))
      }
      pump()
    })
    if (result.status !== undefined) assert.equal(result.status, 413, result.body)
    const failed = await waitFor(async () => {
      const { body } = await getJson<{ uploads: UploadBody['upload'][] }>(coordinator, adminToken, '/api/v1/uploads')
      return body.uploads[0]?.status === 'error' ? body.uploads[0] : undefined
    })
    assert.match(failed.reason ?? '', /exceeds the limit/)
    assert.deepEqual(await readdir(join(coordinator.dataDir, 'uploads', 'multipart')), [])
  })

  it('refuses an upload over the storage quota with 507', async () => {
    const ok = await postUpload(coordinator, userToken, uploadForm({}, [['fits.bin', randomBytes(100_000, 7)]]))
    assert.equal(ok.status, 201)
    const { status, body } = await postUpload(coordinator, userToken, uploadForm({}, [['over.bin', randomBytes(120_000, 8)]]))
    assert.equal(status, 507, JSON.stringify(body))
    assert.equal(body.error?.code, 'ERR_QUOTA_EXCEEDED')
  })

  it('another account cannot read an upload’s status, list it, or HEAD its tus upload', async () => {
    const { body } = await postUpload(coordinator, adminToken, uploadForm({}, [['mine.txt', text('mine')]]))
    const other = await getJson<UploadBody>(coordinator, userToken, `/api/v1/uploads/${body.upload.id}`)
    assert.equal(other.status, 404)
    const list = await getJson<{ uploads: { id: string }[] }>(coordinator, userToken, '/api/v1/uploads')
    assert.ok(!list.body.uploads.some((u) => u.id === body.upload.id))
    const created = await fetch(`${coordinator.url}/api/v1/uploads/tus`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${adminToken}`,
        'tus-resumable': '1.0.0',
        'upload-length': '10',
        'upload-metadata': `filename ${Buffer.from('t.txt').toString('base64')}`,
      },
    })
    assert.equal(created.status, 201, await created.text())
    const location = created.headers.get('location') ?? ''
    const head = (t: string) => fetch(location, { method: 'HEAD', headers: { authorization: `Bearer ${t}`, 'tus-resumable': '1.0.0' } })
    assert.equal((await head(adminToken)).status, 200)
    assert.equal((await head(userToken)).status, 404)
    const anonymous = await fetch(location, { method: 'HEAD', headers: { 'tus-resumable': '1.0.0' } })
    assert.equal(anonymous.status, 401)
  })
})
