import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { appendFile, mkdir, readFile, stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { CID } from 'multiformats/cid'
import { pino } from 'pino'
import { issuePeerToken } from '../../src/cluster/index.ts'
import { importBytes, importEntries, MemoryBlockstore } from '../../src/core/index.ts'
import { initRepo, openRepo } from '../../src/repo/index.ts'
import { DropFolder, type IngestedFile } from '../../src/node/ingest/drop-folder.ts'
import { createNodeGateway } from '../../src/node/node-gateway.ts'
import { type NodeConfigInput, resolveNodeConfig } from '../../src/node/config.ts'
import { serveHandler } from '../../src/transfer/index.ts'
import { memoryIdentity } from '../helpers/fake-node.ts'
import { useTempDir } from '../helpers/temp-dir.ts'

const logger = pino({ level: 'silent' })

describe('drop-folder ingest', () => {
  const tmp = useTempDir('pinfold-ingest-')

  it('imports a file only once it is stable, pins it, and moves it to indexed/ with its path and mtime', async () => {
    const dir = join(tmp(), 'repo')
    await initRepo(dir)
    const repo = await openRepo(dir)
    const ingested: IngestedFile[] = []
    const folder = new DropFolder({ repo, logger, onIngested: (file) => void ingested.push(file), pollIntervalMs: 60_000 })
    try {
      await folder.start()
      const incoming = join(dir, 'incoming', 'photos', '2024')
      await mkdir(incoming, { recursive: true })
      const file = join(incoming, 'a.txt')
      const mtime = new Date('2024-03-01T12:00:00Z')

      await writeFile(file, 'hello ') // first half of a copy
      await utimes(file, mtime, mtime)
      await folder.poll()
      assert.deepEqual(ingested, [], 'a file seen once is not imported')
      await appendFile(file, 'world') // the copy goes on
      await utimes(file, mtime, mtime)
      await folder.poll()
      assert.deepEqual(ingested, [], 'a file that changed since the last poll is not imported')
      await folder.poll()
      assert.equal(ingested.length, 1, 'stable across two polls → imported')

      let expected: CID | undefined
      const candidate = { path: 'a.txt', content: new TextEncoder().encode('hello world'), mtime }
      for await (const e of importEntries([candidate], new MemoryBlockstore(), { profile: 'kubo', preserveMtime: true })) expected = e.cid
      const entry = (ingested as IngestedFile[])[0]
      assert.ok(entry)
      assert.equal(entry.path, 'photos/2024/a.txt')
      assert.equal(entry.size, 11)
      assert.equal(entry.mtime, mtime.getTime())
      assert.equal(entry.cid, expected?.toString(), 'kubo profile with the mtime preserved')
      const pin = await repo.pins.get(CID.parse(entry.cid))
      assert.equal(pin?.recursive, true)

      const moved = join(dir, 'indexed', 'photos', '2024', 'a.txt')
      assert.equal(await readFile(moved, 'utf8'), 'hello world')
      assert.equal((await stat(moved)).mtime.getTime(), mtime.getTime(), 'mtime kept')
      await assert.rejects(stat(file), { code: 'ENOENT' })
      await folder.poll()
      assert.equal(ingested.length, 1, 'not imported twice')
    } finally {
      await folder.stop()
      await repo.close()
    }
  })
})

describe('node gateway', () => {
  const tmp = useTempDir('pinfold-node-gw-')

  it('serves the repo to holders of a valid peer token only', async () => {
    const dir = join(tmp(), 'repo')
    await initRepo(dir)
    const repo = await openRepo(dir)
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    const key = new Uint8Array(Buffer.from((publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url'))
    const other = generateKeyPairSync('ed25519').privateKey
    let coordinatorKey: Uint8Array | undefined
    const identity = memoryIdentity()
    const served = await serveHandler(createNodeGateway({ source: repo.blocks, identity, coordinatorKey: () => coordinatorKey }))
    try {
      const { cid } = await importBytes(new TextEncoder().encode('peer data'), repo.blocks)
      await repo.pins.add(cid)
      const url = `${served.url}/ipfs/${cid}?format=raw`
      const good = (await issuePeerToken(privateKey, 'pfnode', identity.id, 60)).token
      const get = (token?: string) => fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {})

      assert.equal((await get(good)).status, 401, 'no coordinator key learned yet: everything refused')
      coordinatorKey = key
      const denied = await get()
      assert.equal(denied.status, 401)
      assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'ERR_UNAUTHORIZED')
      assert.equal((await get('garbage')).status, 401)
      assert.equal((await get((await issuePeerToken(other, 'pfnode', identity.id, 60)).token)).status, 401, 'signed by another key')
      assert.equal((await get((await issuePeerToken(privateKey, 'pfnode', identity.id, -5)).token)).status, 401, 'expired')
      const ok = await get(good)
      assert.equal(ok.status, 200)
      assert.ok((await ok.arrayBuffer()).byteLength > 0)
    } finally {
      await served.close()
      await repo.close()
    }
  })
})

describe('node config', () => {
  it('validates flags with one-line errors', () => {
    const base = { join: 'http://127.0.0.1:8080', secret: 'a-long-enough-secret' }
    const config = resolveNodeConfig(
      { ...base, storagePath: ['/data/a:500GB:5', '/data/b'], tag: ['region=eu'], bandwidth: '50MB/s', listen: ':4001' },
      {},
      '/srv',
    )
    assert.equal(config.repo, '/srv/pinfold-node')
    assert.deepEqual(config.storagePaths, [{ dir: '/data/a', maxSize: 500e9, weight: 5 }, { dir: '/data/b' }])
    assert.deepEqual(config.tags, { region: 'eu' })
    assert.equal(config.bandwidth, 50e6)
    assert.deepEqual(config.listen, { host: '127.0.0.1', port: 4001 })
    assert.equal(resolveNodeConfig({ join: base.join }, { PINFOLD_CLUSTER_SECRET: base.secret }).secret, base.secret)
    for (const [input, pattern] of [
      [{ secret: base.secret }, /--join URL is required/],
      [{ join: base.join }, /cluster secret is required/],
      [{ ...base, secret: 'short' }, /at least 16/],
      [{ ...base, join: 'ftp://x' }, /http\(s\)/],
      [{ ...base, tag: ['noequals'] }, /--tag/],
      [{ ...base, bandwidth: 'fast' }, /--bandwidth/],
      [{ ...base, listen: 'host:99999' }, /--listen/],
      [{ ...base, listen: '0.0.0.0:4001' }, /--advertise/],
      [{ ...base, storagePath: ['/a:lots'] }, /max size/],
    ] as const) {
      assert.throws(() => resolveNodeConfig(input as NodeConfigInput, {}), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_INVALID_OPTION')
        assert.match(err.message, pattern)
        assert.ok(!err.message.includes('\n'))
        return true
      })
    }
  })
})
