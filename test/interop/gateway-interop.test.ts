import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { CarReader } from '@ipld/car'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { cat, ls, MemoryBlockstore } from '../../src/core/index.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'

// What third-party gateway consumers (ipfs-car, the gateway conformance SHOULDs) expect from
// a real `pinfold serve` in its default token mode.

describe('gateway interop', () => {
  let coordinator: CoordinatorProcess
  let auth: Record<string, string>
  let root: string

  before(async () => {
    coordinator = await startCoordinatorProcess()
    auth = { authorization: `Bearer ${await coordinator.token()}` }
    const form = new FormData()
    form.append('mode', 'folder')
    form.append('file', new Blob(['top\n']), 'site/top.txt')
    form.append('file', new Blob(['nested one\n']), 'site/sub/one.txt')
    form.append('file', new Blob(['nested two\n']), 'site/sub/two.txt')
    const upload = await fetch(`${coordinator.url}/api/v1/uploads`, { method: 'POST', headers: auth, body: form })
    assert.equal(upload.status, 201, await upload.clone().text())
    root = ((await upload.json()) as { upload: { cid: string } }).upload.cid
  })
  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  it('a path CAR names the terminal CID as its root and unpacks to the sub-path', async () => {
    const response = await fetch(`${coordinator.url}/ipfs/${root}/sub?format=car`, { headers: auth })
    assert.equal(response.status, 200)
    const reader = await CarReader.fromBytes(new Uint8Array(await response.arrayBuffer()))
    const [carRoot, ...others] = await reader.getRoots()
    assert.equal(others.length, 0)
    const terminal = (response.headers.get('x-ipfs-roots') ?? '').split(',').at(-1)
    assert.equal(carRoot?.toString(), terminal)
    assert.notEqual(carRoot?.toString(), root)
    // as `ipfs-car unpack`: everything reachable from the header's root, every block verified
    const store = new MemoryBlockstore()
    for await (const block of reader.blocks()) {
      const digest = await sha256.digest(block.bytes)
      assert.deepEqual(digest.bytes, block.cid.multihash.bytes, `${block.cid} verifies`)
      await store.put(block.cid, block.bytes)
    }
    const files: Record<string, string> = {}
    for await (const entry of ls(store, String(carRoot))) {
      const chunks: Uint8Array[] = []
      for await (const chunk of cat(store, `${carRoot}/${entry.name}`)) chunks.push(chunk)
      files[entry.name] = Buffer.concat(chunks).toString()
    }
    assert.deepEqual(files, { 'one.txt': 'nested one\n', 'two.txt': 'nested two\n' })
  })

  it('Cache-Control: only-if-cached answers 412 for a root not held, 200 for one held', async () => {
    const absent = CID.createV1(0x55, await sha256.digest(new TextEncoder().encode('never uploaded')))
    const miss = await fetch(`${coordinator.url}/ipfs/${absent}`, { headers: { ...auth, 'cache-control': 'only-if-cached' } })
    assert.equal(miss.status, 412)
    assert.equal(((await miss.json()) as { error: { code: string } }).error.code, 'ERR_NOT_CACHED')
    const hit = await fetch(`${coordinator.url}/ipfs/${root}/top.txt`, { headers: { ...auth, 'cache-control': 'only-if-cached' } })
    assert.equal(hit.status, 200)
    assert.equal(await hit.text(), 'top\n')
  })

  it('format=dag-json on dag-pb is 406 Not Acceptable', async () => {
    for (const format of ['dag-json', 'dag-cbor']) {
      const response = await fetch(`${coordinator.url}/ipfs/${root}?format=${format}`, { headers: auth })
      assert.equal(response.status, 406, format)
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'ERR_NOT_ACCEPTABLE')
    }
  })

  it('other methods on /ipfs/ answer 405 with Allow; content stays private to shared caches', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const response = await fetch(`${coordinator.url}/ipfs/${root}`, { method, headers: { ...auth, 'content-type': 'application/octet-stream' }, body: 'x' })
      assert.equal(response.status, 405, method)
      assert.equal(response.headers.get('allow'), 'GET, HEAD, OPTIONS', method)
    }
    const read = await fetch(`${coordinator.url}/ipfs/${root}/top.txt`, { headers: auth })
    assert.match(read.headers.get('cache-control') ?? '', /^private\b/)
  })
})
