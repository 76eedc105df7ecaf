import assert from 'node:assert/strict'
import { randomBytes as cryptoRandomBytes, randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { CarReader, CarWriter } from '@ipld/car'
import { type KuboRPCClient, create } from 'kubo-rpc-client'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import tar from 'tar-stream'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { runPinfold } from '../helpers/run-pinfold.ts'

const HELLO_WORLD_V0 = 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD'
const HELLO_WORLD_V1 = 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'

/** Deterministic pseudo-random bytes (several chunks, so the DAG has depth). */
function pseudoRandom(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of source) chunks.push(chunk)
  return Buffer.concat(chunks)
}

async function all<T>(source: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = []
  for await (const item of source) items.push(item)
  return items
}

async function untar(bytes: Buffer): Promise<Map<string, string | null>> {
  const members = new Map<string, string | null>()
  const extract = tar.extract()
  const reading = (async () => {
    for await (const entry of extract) {
      const content = await collect(entry as AsyncIterable<Uint8Array>)
      members.set(entry.header.name, entry.header.type === 'directory' ? null : content.toString('latin1'))
    }
  })()
  Readable.from([bytes]).pipe(extract as unknown as NodeJS.WritableStream)
  await reading
  return members
}

/** A CAR holding only the root block of `car`. */
async function rootBlockCar(car: Uint8Array): Promise<Uint8Array> {
  const reader = await CarReader.fromBytes(car)
  const [root] = await reader.getRoots()
  if (root === undefined) throw new Error('no root')
  const block = await reader.get(root)
  if (block === undefined) throw new Error('no root block')
  const { writer, out } = CarWriter.create([root])
  const bytes = collect(out)
  await writer.put(block)
  await writer.close()
  return bytes
}

/** The HTTP status of a kubo-rpc-client failure. */
function statusOf(error: unknown): number | undefined {
  return (error as { response?: { status?: number } }).response?.status
}

describe('Kubo RPC subset driven by kubo-rpc-client against a real `pinfold serve`', () => {
  let coordinator: CoordinatorProcess
  let ipfs: KuboRPCClient
  let work: string
  const big = pseudoRandom(700_000, 42)
  const tree = [
    { path: 'site/index.html', content: new TextEncoder().encode('<h1>hi</h1>') },
    { path: 'site/css/a.css', content: new TextEncoder().encode('h1{}') },
    { path: 'site/big.bin', content: big },
  ]
  /** `pinfold add` of the same tree from disk: [default root, --cid-version 1 root]. */
  let cliRoots: { v0: string; v1: string; bigV0: string; bigV1: string }

  const client = (token: string) => create({ url: `${coordinator.url}/api/v0`, headers: { authorization: `Bearer ${token}` } })

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'pinfold-kubo-rpc-'))
    const [started] = await Promise.all([
      startCoordinatorProcess(),
      (async () => {
        const site = join(work, 'site')
        await mkdir(join(site, 'css'), { recursive: true })
        for (const file of tree) await writeFile(join(work, file.path), file.content)
        const repo = join(work, 'cli-repo')
        assert.equal((await runPinfold(['init'], { repo })).code, 0)
        const add = async (...args: string[]) => {
          const run = await runPinfold(['add', '--quiet', ...args], { repo })
          assert.equal(run.code, 0, run.stderr)
          return run.stdout.trim()
        }
        // one CLI process at a time holds the repo
        const v0 = await add(site)
        const v1 = await add('--cid-version', '1', site)
        const bigV0 = await add(join(site, 'big.bin'))
        const bigV1 = await add('--cid-version', '1', join(site, 'big.bin'))
        cliRoots = { v0, v1, bigV0, bigV1 }
      })(),
    ])
    coordinator = started
    ipfs = client(await coordinator.token())
  })
  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
    if (work) await rm(work, { recursive: true, force: true })
  })

  it('adds a buffer and a directory with the CIDs `pinfold add` gives (default and CIDv1)', async () => {
    const hello = await ipfs.add(new TextEncoder().encode('hello world'))
    assert.equal(hello.cid.toString(), HELLO_WORLD_V0)
    assert.equal(hello.path, HELLO_WORLD_V0, 'a nameless file is named by its CID, as Kubo')
    assert.equal(hello.size, 19, 'Size is the node’s cumulative size, as Kubo')
    const helloV1 = await ipfs.add('hello world', { cidVersion: 1 })
    assert.equal(helloV1.cid.toString(), HELLO_WORLD_V1)
    assert.equal(helloV1.size, 11)

    assert.equal((await ipfs.add(big)).cid.toString(), cliRoots.bigV0)
    assert.equal((await ipfs.add(big, { cidVersion: 1 })).cid.toString(), cliRoots.bigV1)

    const entries = await all(ipfs.addAll(tree))
    const byPath = new Map(entries.map((entry) => [entry.path, entry.cid.toString()]))
    assert.deepEqual([...byPath.keys()].sort(), ['site', 'site/big.bin', 'site/css', 'site/css/a.css', 'site/index.html'])
    assert.equal(byPath.get('site'), cliRoots.v0)
    assert.equal(entries.at(-1)?.path, 'site', 'the root comes last')
    const v1 = await all(ipfs.addAll(tree, { cidVersion: 1 }))
    assert.equal(v1.at(-1)?.cid.toString(), cliRoots.v1)

    // wrap-with-directory: one more entry named '' holding the top-level names
    const wrapped = await all(ipfs.addAll([{ path: 'note.txt', content: new TextEncoder().encode('note') }], { wrapWithDirectory: true }))
    assert.deepEqual(
      wrapped.map((entry) => entry.path),
      ['note.txt', ''],
    )
    const listing = await all(ipfs.ls(wrapped[1]?.cid ?? ''))
    assert.deepEqual(
      listing.map((entry) => [entry.name, entry.type]),
      [['note.txt', 'file']],
    )
  })

  it('streams progress, honours raw-leaves/chunker, and only-hash stores nothing', async () => {
    const events: [number, string | undefined][] = []
    const added = await ipfs.add(
      { path: 'big.bin', content: big },
      { progress: (bytes: number, name?: string) => events.push([bytes, name]), rawLeaves: true, chunker: 'size-65536' },
    )
    assert.ok(events.length > 0, 'progress events arrive')
    assert.equal(events.at(-1)?.[0], big.byteLength)
    assert.equal(events.at(-1)?.[1], 'big.bin')
    assert.notEqual(added.cid.toString(), cliRoots.bigV0)

    const secret = cryptoRandomBytes(5000)
    const hashed = await ipfs.add(secret, { onlyHash: true, cidVersion: 1 })
    const expected = CID.create(1, raw.code, await sha256.digest(secret))
    assert.equal(hashed.cid.toString(), expected.toString())
    await assert.rejects(ipfs.block.stat(hashed.cid), /not found/)
  })

  it('cat with offset and length, ls, and get as a tar archive', async () => {
    const root = CID.parse(cliRoots.v0)
    assert.deepEqual(await collect(ipfs.cat(`${root}/big.bin`)), Buffer.from(big))
    assert.deepEqual(await collect(ipfs.cat(`/ipfs/${root}/big.bin`, { offset: 300_000, length: 1000 })), Buffer.from(big.subarray(300_000, 301_000)))
    assert.equal((await collect(ipfs.cat(`${root}/index.html`, { offset: 4 }))).toString(), 'hi</h1>')

    const listing = await all(ipfs.ls(root))
    assert.deepEqual(
      listing.map((entry) => [entry.name, entry.type, entry.size]),
      [
        ['big.bin', 'file', big.byteLength],
        ['css', 'dir', 0],
        ['index.html', 'file', 11],
      ],
    )
    assert.equal(listing[2]?.path, `${root}/index.html`)

    const members = await untar(await collect(ipfs.get(root)))
    assert.equal(members.get(`${root}/index.html`), '<h1>hi</h1>')
    assert.equal(members.get(`${root}/css/a.css`), 'h1{}')
    assert.equal(members.get(`${root}/big.bin`), Buffer.from(big).toString('latin1'))
    assert.ok(members.has(`${root}/css/`) || members.has(`${root}/css`))
    const file = await untar(await collect(ipfs.get(`${root}/css/a.css`)))
    assert.deepEqual([...file.entries()], [['a.css', 'h1{}']])

    await assert.rejects(collect(ipfs.cat(root)), /not a file/)
  })

  it('pin add/ls/rm on the caller’s pins; missing content fails at once; other accounts see nothing', async () => {
    const unpinned = await ipfs.add(cryptoRandomBytes(3000), { pin: false })
    const pinsBefore = (await all(ipfs.pin.ls())).map((pin) => pin.cid.toString())
    assert.ok(!pinsBefore.includes(unpinned.cid.toString()))
    await assert.rejects(all(ipfs.pin.ls({ paths: [unpinned.cid] })), /is not pinned/)

    assert.equal((await ipfs.pin.add(unpinned.cid)).toString(), unpinned.cid.toString())
    const listed = await all(ipfs.pin.ls({ paths: [unpinned.cid] }))
    assert.deepEqual(
      listed.map((pin) => [pin.cid.toString(), pin.type]),
      [[unpinned.cid.toString(), 'recursive']],
    )
    const pins = (await all(ipfs.pin.ls())).map((pin) => pin.cid.toString())
    assert.ok(pins.includes(unpinned.cid.toString()))
    assert.ok(pins.includes(cliRoots.v0), 'added content is pinned by default')

    assert.equal((await ipfs.pin.rm(unpinned.cid)).toString(), unpinned.cid.toString())
    assert.ok(!(await all(ipfs.pin.ls())).some((pin) => pin.cid.equals(unpinned.cid)))
    await assert.rejects(ipfs.pin.rm(unpinned.cid), /not pinned/)

    // content the origin repo does not hold: an error now, not a hang
    const absent = CID.create(1, raw.code, await sha256.digest(cryptoRandomBytes(32)))
    const started = Date.now()
    await assert.rejects(ipfs.pin.add(absent), /not found/)
    assert.ok(Date.now() - started < 5000)

    // a second account: sees none of the first account's pins, and cannot read its content
    const other = await secondAccountClient()
    assert.deepEqual(await all(other.pin.ls()), [])
    await assert.rejects(collect(other.cat(`${cliRoots.v0}/index.html`)), /not found/)
    const mine = await other.add('mine alone')
    assert.deepEqual(
      (await all(other.pin.ls())).map((pin) => pin.cid.toString()),
      [mine.cid.toString()],
    )
    assert.ok(!(await all(ipfs.pin.ls({ type: 'recursive' }))).some((pin) => pin.cid.equals(mine.cid)))
  })

  it('add?pin-name= names the pin, and pin/ls name= keeps the pins whose name contains it', async () => {
    const form = new FormData()
    form.append('file', new Blob([cryptoRandomBytes(2000)]), 'named.bin')
    const response = await fetch(`${coordinator.url}/api/v0/add?pin-name=quarterly-report`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await coordinator.token()}` },
      body: form,
    })
    assert.equal(response.status, 200, await response.clone().text())
    const added = CID.parse(((await response.json()) as { Hash: string }).Hash)
    const other = await ipfs.add(cryptoRandomBytes(2000), { pin: false })
    await ipfs.pin.add(other.cid, { name: 'holiday' } as Parameters<typeof ipfs.pin.add>[1])
    const named = await all(ipfs.pin.ls({ name: 'report' }))
    assert.deepEqual(
      named.map((pin) => [pin.cid.toString(), pin.name]),
      [[added.toString(), 'quarterly-report']],
    )
    await assert.rejects(all(ipfs.pin.ls({ paths: [other.cid], name: 'report' })), /is not pinned/)
    assert.equal((await all(ipfs.pin.ls({ name: 'holi' }))).length, 1)
  })

  it('pin/ls lists the children of a pinned directory as indirect (type all and indirect), not as recursive', async () => {
    const added = await all(
      ipfs.addAll([
        { path: 'album/a.txt', content: cryptoRandomBytes(1500) },
        { path: 'album/b.txt', content: cryptoRandomBytes(1500) },
      ]),
    )
    const root = added.find((entry) => entry.path === 'album')?.cid
    const child = added.find((entry) => entry.path === 'album/a.txt')?.cid
    assert.ok(root && child)
    const expected = [[child.toString(), `indirect through ${root}`]]
    const asked = await all(ipfs.pin.ls({ paths: [child] }))
    assert.deepEqual(asked.map((pin) => [pin.cid.toString(), pin.type]), expected)
    const indirectOnly = await all(ipfs.pin.ls({ paths: [child], type: 'indirect' }))
    assert.deepEqual(indirectOnly.map((pin) => [pin.cid.toString(), pin.type]), expected)
    await assert.rejects(all(ipfs.pin.ls({ paths: [child], type: 'recursive' })), /is not pinned/)
    await assert.rejects(all(ipfs.pin.ls({ paths: [root], type: 'indirect' })), /is not pinned/)
    const listed = new Map((await all(ipfs.pin.ls({ type: 'indirect' }))).map((pin) => [pin.cid.toString(), pin.type]))
    assert.equal(listed.get(child.toString()), `indirect through ${root}`)
    assert.ok(!listed.has(root.toString()), 'a recursive pin is not listed as indirect')
    const everything = new Map((await all(ipfs.pin.ls())).map((pin) => [pin.cid.toString(), pin.type]))
    assert.equal(everything.get(root.toString()), 'recursive')
    assert.equal(everything.get(child.toString()), `indirect through ${root}`)
  })

  it('ls of a multi-chunk file lists its chunks, as Kubo', async () => {
    const links = await all(ipfs.ls(cliRoots.bigV0))
    assert.ok(links.length >= 3, `${links.length} chunks`)
    assert.deepEqual(new Set(links.map((link) => link.name)), new Set(['']))
    assert.equal(links.reduce((sum, link) => sum + link.size, 0), big.length)
    for (const link of links) assert.ok((await ipfs.block.stat(link.cid)).size > 0)
  })

  it('block put/get/stat (raw and dag-pb), verified', async () => {
    const data = cryptoRandomBytes(1234)
    const cid = await ipfs.block.put(data, { pin: true })
    assert.equal(cid.toString(), CID.create(1, raw.code, await sha256.digest(data)).toString())
    assert.deepEqual(Buffer.from(await ipfs.block.get(cid)), data)
    const stat = await ipfs.block.stat(cid)
    assert.equal(stat.cid.toString(), cid.toString())
    assert.equal(stat.size, 1234)

    // the empty UnixFS directory as a dag-pb block, in both CID versions
    const emptyDir = Uint8Array.from([0x0a, 0x02, 0x08, 0x01])
    assert.equal((await ipfs.block.put(emptyDir, { format: 'dag-pb', version: 0, pin: true })).toString(), 'QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn')
    assert.equal(
      (await ipfs.block.put(emptyDir, { format: 'dag-pb', pin: true })).toString(),
      'bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354',
    )
    await assert.rejects(ipfs.block.put(Uint8Array.from([0xff, 0xff]), { format: 'dag-pb' }), /dag-pb/)
    await assert.rejects(ipfs.block.get(CID.create(1, raw.code, await sha256.digest(cryptoRandomBytes(8)))), /not found/)
  })

  it('dag export → dag import into a second coordinator (verified, roots pinned)', async () => {
    const second = await startCoordinatorProcess()
    try {
      const remote = create({ url: `${second.url}/api/v0`, headers: { authorization: `Bearer ${await second.token()}` } })
      const car = await collect(ipfs.dag.export(CID.parse(cliRoots.v0)))
      const results = await all(remote.dag.import([car]))
      assert.deepEqual(
        results.map((result) => [result.root.cid.toString(), result.root.pinErrorMsg]),
        [[cliRoots.v0, '']],
      )
      assert.ok((await all(remote.pin.ls())).some((pin) => pin.cid.toString() === cliRoots.v0))
      assert.deepEqual(await collect(remote.cat(`${cliRoots.v0}/big.bin`)), Buffer.from(big))

      // a CAR whose block does not match its CID is refused
      const tampered = Buffer.from(car)
      tampered[tampered.length - 10] = (tampered[tampered.length - 10] ?? 0) ^ 0xff
      await assert.rejects(all(remote.dag.import([tampered])), /do not match/)
      // a CAR with only its root block (of another DAG): imported, the root reports its pin error
      const rootOnly = await rootBlockCar(await collect(ipfs.dag.export(CID.parse(cliRoots.v1))))
      const partial = await all(remote.dag.import([rootOnly]))
      assert.equal(partial[0]?.root.cid.toString(), cliRoots.v1)
      assert.match(partial[0]?.root.pinErrorMsg ?? '', /not found/)
      // the message names the missing block (a child), not the root the CAR carried
      const missing = /could not find ([A-Za-z0-9]+)/.exec(partial[0]?.root.pinErrorMsg ?? '')?.[1]
      assert.ok(missing !== undefined && missing !== cliRoots.v1, partial[0]?.root.pinErrorMsg)
      const rootLinks = (await all(ipfs.ls(cliRoots.v1))).map((link) => link.cid.toString())
      assert.ok(rootLinks.includes(missing), `${missing} is a child of the root: ${rootLinks}`)
      assert.ok(!(await all(remote.pin.ls())).some((pin) => pin.cid.toString() === cliRoots.v1))
    } finally {
      await second.stop()
      await second.cleanup()
    }
  })

  it('id, version and repo/stat in Kubo’s shapes', async () => {
    const id = await ipfs.id()
    assert.match(id.id.toString(), /^12D3KooW/)
    assert.equal((await ipfs.id()).id.toString(), id.id.toString(), 'stable')
    assert.match(id.agentVersion, /^pinfold\/\d+\.\d+\.\d+/)
    assert.ok(id.addresses.length > 0)
    const version = await ipfs.version()
    assert.match(version.version, /^\d+\.\d+\.\d+$/)
    for (const key of ['commit', 'repo', 'system', 'golang']) assert.equal(typeof (version as unknown as Record<string, unknown>)[key], 'string')
    const stat = await ipfs.repo.stat()
    assert.ok(stat.numObjects > 0n)
    assert.ok(stat.repoSize > 0n)
    assert.ok(stat.storageMax > 0n)
    assert.equal(typeof stat.repoPath, 'string')
    assert.equal(typeof stat.version, 'string')
  })

  it('answers an unknown command, GET and a missing token as Kubo does', async () => {
    await assert.rejects(ipfs.swarm.peers(), (error: unknown) => {
      assert.equal(statusOf(error), 404)
      assert.match((error as Error).message, /404 page not found/)
      return true
    })
    const get = await fetch(`${coordinator.url}/api/v0/version`)
    assert.equal(get.status, 405)
    const anonymous = create({ url: `${coordinator.url}/api/v0` })
    await assert.rejects(anonymous.version(), (error: unknown) => {
      assert.equal(statusOf(error), 401)
      assert.match((error as Error).message, /Bearer/)
      return true
    })
  })

  it('respects the account’s upload limit (413, Kubo error shape)', async () => {
    const limited = await secondAccountClient({ quotaUploadBytes: 10_000 })
    await assert.rejects(limited.add(cryptoRandomBytes(50_000)), (error: unknown) => {
      assert.equal(statusOf(error), 413)
      assert.match((error as Error).message, /limit/)
      return true
    })
    assert.equal((await limited.add(cryptoRandomBytes(5000))).size > 0, true)
  })

  /** A fresh user account (created by the admin) and a client holding its token. */
  async function secondAccountClient(quotas: { quotaUploadBytes?: number } = {}): Promise<KuboRPCClient> {
    const adminToken = await coordinator.token()
    const email = `kubo-${randomUUID()}@example.com`
    const password = 'correct horse battery staple'
    const made = await fetch(`${coordinator.url}/api/v1/accounts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ email, password, ...quotas }),
    })
    assert.equal(made.status, 201, await made.clone().text())
    const login = await fetch(`${coordinator.url}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    })
    assert.equal(login.status, 200, await login.clone().text())
    return client(((await login.json()) as { accessToken: string }).accessToken)
  }
})
