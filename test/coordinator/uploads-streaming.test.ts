import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import { importPaths, MemoryBlockstore } from '../../src/core/index.ts'
import { openRepo } from '../../src/repo/index.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { getJson, kuboCid, postUpload, randomBytes, type UploadBody, uploadForm, waitFor } from './uploads-helpers.ts'

const text = (s: string) => new TextEncoder().encode(s)

/** More parts than the importer batches by default (50), a large file among them, not in path order. */
function manyFiles(top: string): [string, Uint8Array][] {
  const files: [string, Uint8Array][] = []
  for (let i = 0; i < 130; i++) {
    files.push([`${top}/d${i % 7}/small-${(i * 37) % 130}.txt`, text(`file ${i}`)])
    if (i === 60) files.push([`${top}/big.bin`, randomBytes(6_000_000, 60)])
  }
  files.push([`${top}/empty`, new Uint8Array()])
  return files
}

async function cidFromDisk(files: [string, Uint8Array][], top: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pinfold-upload-tree-'))
  try {
    for (const [path, bytes] of files) {
      await mkdir(dirname(join(dir, path)), { recursive: true })
      await writeFile(join(dir, path), bytes)
    }
    let cid = ''
    for await (const entry of importPaths([join(dir, top)], new MemoryBlockstore())) cid = entry.cid.toString()
    return cid
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

describe('multipart uploads are imported while they arrive', () => {
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

  it('folder mode: many small files and a large one give the CID of adding the tree from disk', async () => {
    const files = manyFiles('tree')
    const expected = await cidFromDisk(files, 'tree')
    const { status, body } = await postUpload(coordinator, token, uploadForm({ mode: 'folder', path: '/Library/streamed' }, files))
    assert.equal(status, 201, JSON.stringify(body))
    assert.equal(body.upload.cid, expected)
    assert.deepEqual(
      body.upload.entries?.map((e) => [e.path, e.kind, e.cid, e.size]),
      [['/Library/streamed/tree', 'folder', expected, files.reduce((n, [, b]) => n + b.length, 0)]],
    )
  })

  it('folder mode with a name and no shared top-level directory: the folder is the whole upload', async () => {
    const files: [string, Uint8Array][] = [
      ['b.txt', text('b')],
      ['a/x.bin', randomBytes(400_000, 9)],
      ['a/y.txt', text('y')],
    ]
    const expected = await cidFromDisk(
      files.map(([path, bytes]) => [`named/${path}`, bytes]),
      'named',
    )
    const { status, body } = await postUpload(coordinator, token, uploadForm({ mode: 'folder', name: 'named' }, files))
    assert.equal(status, 201, JSON.stringify(body))
    assert.equal(body.upload.cid, expected)
    assert.equal(body.upload.entries?.[0]?.path, '/Library/named')
  })

  it('folder mode without a name refuses paths that share no top-level directory', async () => {
    const { status, body } = await postUpload(coordinator, token, uploadForm({ mode: 'folder' }, [['top/a.txt', text('a')], ['b.txt', text('b')]]))
    assert.equal(status, 400, JSON.stringify(body))
    assert.equal(body.error?.code, 'ERR_VALIDATION')
  })

  it('files mode: many small files and a large one, each with the CID `ipfs add` gives it', async () => {
    const files = manyFiles('flat')
    const { status, body } = await postUpload(coordinator, token, uploadForm({ path: '/Library/flat' }, files))
    assert.equal(status, 201, JSON.stringify(body))
    assert.equal(body.upload.entries?.length, files.length)
    const entries = body.upload.entries ?? []
    for (const [i, [path, bytes]] of files.entries()) {
      const entry = entries[i]
      assert.equal(entry?.path, `/Library/flat/${path}`)
      assert.equal(entry?.cid, await kuboCid(bytes), path)
      assert.equal(entry?.size, bytes.length)
    }
  })

  it('the status is `receiving` while the body arrives, then the upload is done', async () => {
    const boundary = 'slowboundary'
    const bytes = randomBytes(3_000_000, 11)
    const req = httpRequest(`${coordinator.url}/api/v1/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
    })
    const answer = new Promise<{ status?: number; body: string }>((resolve) => {
      req.on('error', () => resolve({ body: '' }))
      req.on('response', (res) => {
        let body = ''
        res.on('data', (c: Buffer) => {
          body += c.toString()
        })
        res.on('end', () => resolve({ status: res.statusCode, body }))
      })
    })
    req.write(
      `--${boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\n/Library/slow\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.bin"\r\n\r\n`,
    )
    req.write(bytes.subarray(0, 2_000_000))
    const receiving = await waitFor(async () => {
      const { body } = await getJson<{ uploads: UploadBody['upload'][] }>(coordinator, token, '/api/v1/uploads')
      const newest = body.uploads[0]
      return newest?.status === 'receiving' ? newest : undefined
    })
    req.end(Buffer.concat([bytes.subarray(2_000_000), Buffer.from(`\r\n--${boundary}--\r\n`)]))
    const result = await answer
    assert.equal(result.status, 201, result.body)
    const done = JSON.parse(result.body) as UploadBody
    assert.equal(done.upload.id, receiving.id)
    assert.equal(done.upload.status, 'done')
    assert.equal(done.upload.cid, await kuboCid(bytes))
  })
})

describe('a multipart upload refused late in its body', () => {
  let coordinator: CoordinatorProcess | undefined
  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  it('a bad name after a large valid file leaves nothing registered and no pin; GC collects the blocks', async () => {
    coordinator = await startCoordinatorProcess()
    const token = await coordinator.token()
    const big = randomBytes(5_000_000, 21)
    const cid = await kuboCid(big)
    const { status, body } = await postUpload(
      coordinator,
      token,
      uploadForm({ path: '/Library/late' }, [
        ['ok/big.bin', big],
        ['ok/fine.txt', text('fine')],
        ['../escape.txt', text('x')],
      ]),
    )
    assert.equal(status, 400, JSON.stringify(body))
    assert.equal(body.error?.code, 'ERR_INVALID_PATH')
    const { body: list } = await getJson<{ uploads: UploadBody['upload'][] }>(coordinator, token, '/api/v1/uploads')
    assert.equal(list.uploads[0]?.status, 'error')
    assert.equal(list.uploads[0]?.stage, 'receiving')
    const entry = await getJson<unknown>(coordinator, token, `/api/v1/entries?path=${encodeURIComponent('/Library/late/ok/big.bin')}`)
    assert.equal(entry.status, 404, JSON.stringify(entry.body))
    const later = await postUpload(coordinator, token, uploadForm({ path: '/Library/later' }, [['small.txt', text('small')]]))
    assert.equal(later.status, 201)
    await coordinator.stop()

    const repo = await openRepo(join(coordinator.dataDir, 'repo'))
    try {
      const pins: string[] = []
      for await (const pin of repo.pins.ls()) pins.push(pin.cid.toString())
      assert.deepEqual(pins, [later.body.upload.cid], 'only the completed upload is pinned')
      await repo.gc()
      assert.equal(await repo.blocks.has(CID.parse(cid)), false)
    } finally {
      await repo.close()
    }
  })
})
