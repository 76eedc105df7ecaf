import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { CarWriter } from '@ipld/car'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { importBytes, MemoryBlockstore } from '../../src/core/index.ts'
import { createGatewayHandler, type ServedHandler, serveHandler } from '../../src/transfer/index.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'

// biome-ignore lint/suspicious/noExplicitAny: test responses are checked field by field
type Json = any

interface PinStatus {
  requestid: string
  status: string
  info: Record<string, string>
}

/**
 * Issue 9 item 1 against a real `pinfold serve`: an account gains read access to a CID only by
 * sending its bytes, by having them fetched from origins it named, or through a grant it already
 * holds. Mallory knows the CID of a file Alice uploaded and tries every way of gaining a reference
 * to it; each must behave exactly as for a CID nobody stores, and must not let her read it.
 */
describe('tenant isolation: knowing a CID grants nothing (real server)', () => {
  let coordinator: CoordinatorProcess
  let alice: string
  let mallory: string
  let eve: string
  let origin: ServedHandler
  let originBytesServed = 0
  const originStore = new MemoryBlockstore()
  const secret = randomBytes(300_000)
  let secretCid: string

  const call = async (method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: Json }> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` }
    if (body !== undefined) headers['content-type'] = 'application/json'
    const response = await fetch(`${coordinator.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    const text = await response.text()
    return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Json) }
  }

  const account = async (adminToken: string, email: string, quotaStorageBytes?: number): Promise<string> => {
    const password = `${email}-password`
    const created = await call('POST', '/api/v1/accounts', adminToken, { email, password, ...(quotaStorageBytes ? { quotaStorageBytes } : {}) })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const response = await fetch(`${coordinator.url}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    })
    return ((await response.json()) as { accessToken: string }).accessToken
  }

  const upload = async (token: string, bytes: Uint8Array, name: string): Promise<{ id: string; cid: string }> => {
    const form = new FormData()
    form.append('path', '/Library')
    form.append('file', new Blob([bytes]), name)
    const response = await fetch(`${coordinator.url}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
    const body = (await response.json()) as Json
    assert.equal(response.status, 201, JSON.stringify(body))
    return body.upload.entries[0]
  }

  /** A CID no account stores (the sha2-256 of fresh random bytes). */
  const unknownCid = async (): Promise<string> => CID.createV1(raw.code, await sha256.digest(randomBytes(64))).toString()

  const settle = async (token: string, requestid: string): Promise<PinStatus> => {
    const deadline = Date.now() + 15_000
    for (;;) {
      const got = await call('GET', `/pinning/pins/${requestid}`, token)
      assert.equal(got.status, 200)
      if (got.body.status === 'pinned' || got.body.status === 'failed') return got.body as PinStatus
      if (Date.now() > deadline) assert.fail(`request still ${got.body.status}`)
      await sleep(25)
    }
  }

  /** What a CID nobody stores gets at once: the fetch from origins is queued or running. */
  const assertFetching = (status: string, message?: string): void => {
    assert.ok(status === 'queued' || status === 'pinning', `${message ?? 'fetching'}: ${status}`)
  }

  /** What Mallory can do with `cid`: every read path answers as for absent content. */
  const assertCannotRead = async (token: string, cid: string): Promise<void> => {
    assert.equal((await fetch(`${coordinator.url}/ipfs/${cid}`, { headers: { authorization: `Bearer ${token}` } })).status, 404, 'gateway')
    const cat = await call('POST', `/api/v0/cat?arg=${cid}`, token)
    assert.notEqual(cat.status, 200, 'kubo cat')
    assert.match(String(cat.body.Message), /not found locally/)
    assert.notEqual((await call('POST', `/api/v0/dag/export?arg=${cid}`, token)).status, 200, 'kubo dag/export')
    assert.notEqual((await call('POST', `/api/v0/pin/add?arg=${cid}`, token)).status, 200, 'kubo pin/add')
    assert.equal((await call('POST', '/api/v1/share', token, { cid, expiresIn: 60 })).status, 404, 'share link')
  }

  const carOf = async (root: CID, blocks: { cid: CID; bytes: Uint8Array }[]): Promise<Uint8Array> => {
    const { writer, out } = CarWriter.create([root])
    const chunks: Uint8Array[] = []
    const collecting = (async () => {
      for await (const chunk of out) chunks.push(chunk)
    })()
    for (const block of blocks) await writer.put(block)
    await writer.close()
    await collecting
    return Buffer.concat(chunks)
  }

  /** `dag/import` of one CAR: its first answer line. */
  const dagImport = async (token: string, car: Uint8Array): Promise<Json> => {
    const form = new FormData()
    form.append('file', new Blob([car]), 'dag.car')
    const response = await fetch(`${coordinator.url}/api/v0/dag/import`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
    const text = await response.text()
    assert.equal(response.status, 200, text)
    return JSON.parse(text.trim().split('\n')[0] ?? '{}') as Json
  }

  before(async () => {
    // the origins these tests name are on loopback, which origins may reach only when allow-listed
    coordinator = await startCoordinatorProcess({ env: { PINFOLD_PINNING_ALLOW_ORIGINS: '127.0.0.1' } })
    const adminToken = await coordinator.token()
    alice = await account(adminToken, 'alice@example.com')
    mallory = await account(adminToken, 'mallory@example.com')
    eve = await account(adminToken, 'eve@example.com', 1000)
    secretCid = (await upload(alice, secret, 'secret.bin')).cid
    const gateway = createGatewayHandler({ source: originStore })
    origin = await serveHandler(async (request) => {
      const response = await gateway(request)
      const body = new Uint8Array(await response.arrayBuffer())
      originBytesServed += body.byteLength
      return new Response(body, { status: response.status, headers: response.headers })
    })
  })

  after(async () => {
    await origin?.close()
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  it('a pin request without origins for another account’s CID is queued and fails exactly like an unknown CID', async () => {
    const unknown = await unknownCid()
    const answers = []
    for (const cid of [secretCid, unknown]) {
      const added = await call('POST', '/pinning/pins', mallory, { cid })
      assert.equal(added.status, 202)
      assertFetching(added.body.status, `no instant "pinned" for ${cid === secretCid ? 'stored' : 'unknown'} content`)
      answers.push(await settle(mallory, added.body.requestid))
    }
    const [stored, absent] = answers as [PinStatus, PinStatus]
    assert.equal(stored.status, 'failed')
    assert.deepEqual(stored.info, absent.info, 'the same details, no dag_size or replica count')
    await assertCannotRead(mallory, secretCid)
  })

  it('replacing a request with another account’s CID grants nothing', async () => {
    const added = await call('POST', '/pinning/pins', mallory, { cid: await unknownCid() })
    const replaced = await call('POST', `/pinning/pins/${added.body.requestid}`, mallory, { cid: secretCid })
    assert.equal(replaced.status, 202)
    assertFetching(replaced.body.status)
    assert.equal((await settle(mallory, replaced.body.requestid)).status, 'failed')
    await assertCannotRead(mallory, secretCid)
  })

  it('the quota check does not reveal the size of another account’s CID', async () => {
    // Eve's quota (1000 bytes) is far below the secret's size: a refusal would say it exists
    for (const cid of [secretCid, await unknownCid()]) {
      const added = await call('POST', '/pinning/pins', eve, { cid })
      assert.equal(added.status, 202, JSON.stringify(added.body))
      assertFetching(added.body.status)
    }
  })

  it('a request whose origin serves the content is fetched from that origin in full, then readable', async () => {
    // the same bytes Alice stored, offered by an origin Mallory names: no fast path from Alice's copy
    const offered = (await importBytes(secret, originStore)).cid.toString()
    assert.equal(offered, secretCid)
    originBytesServed = 0
    const added = await call('POST', '/pinning/pins', mallory, { cid: secretCid, origins: [`/ip4/127.0.0.1/tcp/${new URL(origin.url).port}/http`] })
    assertFetching(added.body.status)
    assert.equal((await settle(mallory, added.body.requestid)).status, 'pinned')
    assert.ok(originBytesServed >= secret.byteLength, `the origin served ${originBytesServed} bytes`)
    const read = await fetch(`${coordinator.url}/ipfs/${secretCid}`, { headers: { authorization: `Bearer ${mallory}` } })
    assert.equal(read.status, 200)
    assert.deepEqual(Buffer.from(await read.arrayBuffer()), Buffer.from(secret))
    // her earlier requests for the CID are satisfied by the same fetch; once all are gone, so is her access
    const mine = await call('GET', `/pinning/pins?cid=${secretCid}&status=queued,pinning,pinned,failed`, mallory)
    assert.equal(mine.body.count, 3)
    for (const request of mine.body.results) assert.equal((await call('DELETE', `/pinning/pins/${request.requestid}`, mallory)).status, 202)
    await assertCannotRead(mallory, secretCid)
  })

  it('dag/import of a CAR naming another account’s root without its blocks pins and grants nothing', async () => {
    const root = await dagImport(mallory, await carOf(CID.parse(secretCid), []))
    assert.equal(root.Root.Cid['/'], secretCid)
    assert.match(root.Root.PinErrorMsg, /not found locally/, JSON.stringify(root))
    const pins = await call('POST', '/api/v0/pin/ls', mallory)
    assert.ok(!Object.keys(pins.body.Keys ?? {}).includes(secretCid), 'not among her pins')
    await assertCannotRead(mallory, secretCid)
  })

  it('a crafted block linking to another account’s CID, put or imported with a pin, grants nothing below it', async () => {
    const crafted = dagPb.encode(dagPb.prepare({ Data: new UnixFS({ type: 'directory' }).marshal(), Links: [{ Name: 'x', Hash: CID.parse(secretCid) }] }))
    const craftedCid = CID.createV1(dagPb.code, await sha256.digest(crafted)).toString()
    const put = new FormData()
    put.append('file', new Blob([crafted]), 'block')
    const putAnswer = await fetch(`${coordinator.url}/api/v0/block/put?cid-codec=dag-pb&pin=true`, { method: 'POST', headers: { authorization: `Bearer ${mallory}` }, body: put })
    assert.notEqual(putAnswer.status, 200, 'the pin is refused')
    assert.match(((await putAnswer.json()) as Json).Message, /not found locally/)
    const root = await dagImport(mallory, await carOf(CID.parse(craftedCid), [{ cid: CID.parse(craftedCid), bytes: crafted }]))
    assert.match(root.Root.PinErrorMsg, /not found locally/, JSON.stringify(root))
    const below = await fetch(`${coordinator.url}/ipfs/${craftedCid}/x`, { headers: { authorization: `Bearer ${mallory}` } })
    assert.equal(below.status, 404)
    await assertCannotRead(mallory, secretCid)
  })

  it('dag/import of a root declaring 2^53 bytes is pinned, counted by its stored bytes and removable (item 8)', async () => {
    const leaf = randomBytes(100)
    const leafCid = CID.createV1(raw.code, await sha256.digest(leaf))
    const file = new UnixFS({ type: 'file', blockSizes: [2n ** 53n] })
    const rootBytes = dagPb.encode(dagPb.prepare({ Data: file.marshal(), Links: [{ Hash: leafCid, Tsize: 100 }] }))
    const rootCid = CID.createV1(dagPb.code, await sha256.digest(rootBytes))
    const car = await carOf(rootCid, [
      { cid: rootCid, bytes: rootBytes },
      { cid: leafCid, bytes: leaf },
    ])
    // Eve's quota is 1000 bytes: the DAG's stored bytes fit, its declared size does not
    const answer = await dagImport(eve, car)
    assert.deepEqual(answer.Root, { Cid: { '/': rootCid.toString() }, PinErrorMsg: '' })
    const pins = await call('POST', `/api/v0/pin/ls?arg=${rootCid}`, eve)
    assert.equal(pins.status, 200, JSON.stringify(pins.body))
    const block = new FormData()
    block.append('file', new Blob([randomBytes(500)]), 'block')
    const more = await fetch(`${coordinator.url}/api/v0/block/put?pin=true`, { method: 'POST', headers: { authorization: `Bearer ${eve}` }, body: block })
    assert.equal(more.status, 200, `the quota still has room: ${await more.text()}`)
    const removed = await call('POST', `/api/v0/pin/rm?arg=${rootCid}`, eve)
    assert.equal(removed.status, 200, JSON.stringify(removed.body))
    assert.equal((await call('POST', `/api/v0/pin/ls?arg=${rootCid}`, eve)).status, 500, 'gone')
  })

  it('a path-scoped share link of a user stops working once the user no longer holds the root (item 10)', async () => {
    const form = new FormData()
    form.append('path', '/Library')
    form.append('mode', 'folder')
    form.append('name', 'site')
    form.append('file', new Blob(['doc a']), 'docs/a.txt')
    form.append('file', new Blob(['secret b']), 'private/b.txt')
    const response = await fetch(`${coordinator.url}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${alice}` }, body: form })
    const folder = ((await response.json()) as Json).upload
    assert.equal(response.status, 201, JSON.stringify(folder))
    const link = await call('POST', '/api/v1/share', alice, { cid: folder.cid, path: 'docs', expiresIn: 600 })
    assert.equal(link.status, 200, JSON.stringify(link.body))
    assert.ok(!link.body.url.includes(folder.cid))
    assert.equal(await (await fetch(`${coordinator.url}/ipfs/${link.body.cid}/a.txt?share=${link.body.token}`)).text(), 'doc a')
    const entry = (await call('GET', '/api/v1/entries?path=/Library/site', alice)).body
    assert.equal(entry.cid, folder.cid)
    assert.equal((await call('DELETE', `/api/v1/entries/${entry.id}`, alice)).status, 200)
    assert.equal((await fetch(`${coordinator.url}/ipfs/${link.body.cid}/a.txt?share=${link.body.token}`)).status, 403)
  })

  it('a delete answer lists only the caller’s own references', async () => {
    // Mallory uploads the same bytes (so the same CID) and a file nobody else has
    const same = await upload(mallory, secret, 'same.bin')
    const own = await upload(mallory, randomBytes(5000), 'own.bin')
    assert.equal(same.cid, secretCid)
    const answers = []
    for (const entry of [same, own]) {
      const removed = await call('DELETE', `/api/v1/entries/${entry.id}`, mallory)
      assert.equal(removed.status, 200, JSON.stringify(removed.body))
      answers.push(removed.body)
    }
    assert.deepEqual(answers[0], { removedEntries: 1, releasedCids: [secretCid], stillReferenced: [] })
    assert.deepEqual(answers[1], { removedEntries: 1, releasedCids: [own.cid], stillReferenced: [] })
    await assertCannotRead(mallory, secretCid)
    const kept = await fetch(`${coordinator.url}/ipfs/${secretCid}`, { headers: { authorization: `Bearer ${alice}` } })
    assert.equal(kept.status, 200, 'Alice still has her file')
    await kept.arrayBuffer()
  })
})
