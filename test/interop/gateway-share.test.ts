import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CarReader } from '@ipld/car'
import { create } from 'kubo-rpc-client'
import { CID } from 'multiformats/cid'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { runPinfold } from '../helpers/run-pinfold.ts'

interface ShareAnswer {
  url: string
  token: string
  cid: string
  path: string
  expiresAt: string
}

type ErrorBody = { error: { code: string; message: string } }

/**
 * Signed expiring read links against a real `pinfold serve` in the default
 * `gateway.access = token` mode: the link opens its CID (and path prefix) without a
 * bearer token, and nothing else; expired or altered links are refused with clear codes.
 */
describe('gateway share links (token mode, real server)', () => {
  let coordinator: CoordinatorProcess
  let adminToken: string
  let configDir: string
  const fileBytes = randomBytes(300_000)
  const otherBytes = randomBytes(1000)
  let fileCid: string
  let dirCid: string
  let otherCid: string

  const share = async (token: string, body: Record<string, unknown>): Promise<Response> =>
    fetch(`${coordinator.url}/api/v1/share`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  const shareOk = async (body: Record<string, unknown>): Promise<ShareAnswer> => {
    const response = await share(adminToken, body)
    assert.equal(response.status, 200, await response.clone().text())
    return (await response.json()) as ShareAnswer
  }

  before(async () => {
    coordinator = await startCoordinatorProcess()
    adminToken = await coordinator.token()
    configDir = await mkdtemp(join(tmpdir(), 'pinfold-share-cli-'))
    const ipfs = create({ url: `${coordinator.url}/api/v0`, headers: { authorization: `Bearer ${adminToken}` } })
    fileCid = (await ipfs.add(fileBytes, { cidVersion: 1 })).cid.toString()
    otherCid = (await ipfs.add(otherBytes, { cidVersion: 1 })).cid.toString()
    const added = []
    for await (const entry of ipfs.addAll(
      [
        { path: 'site/index.txt', content: new TextEncoder().encode('hello share') },
        { path: 'site/docs/a.txt', content: new TextEncoder().encode('doc a') },
        { path: 'site/private/b.txt', content: new TextEncoder().encode('secret b') },
      ],
      { cidVersion: 1 },
    )) {
      added.push(entry)
    }
    dirCid = added.find((entry) => entry.path === 'site')?.cid.toString() ?? ''
    assert.ok(dirCid)
  })

  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
    await rm(configDir, { recursive: true, force: true })
  })

  it('the gateway needs a token in token mode', async () => {
    const response = await fetch(`${coordinator.url}/ipfs/${fileCid}`)
    assert.equal(response.status, 401)
  })

  it('a share link opens its CID without a token, with its url and expiry', async () => {
    const before = Date.now()
    const answer = await shareOk({ cid: fileCid, expiresIn: 3600 })
    assert.match(answer.url, new RegExp(`^${coordinator.url}/ipfs/${fileCid}\\?share=[\\w.-]+$`))
    const expiresAt = Date.parse(answer.expiresAt)
    assert.ok(expiresAt >= before + 3599_000 && expiresAt <= Date.now() + 3601_000)
    const response = await fetch(answer.url)
    assert.equal(response.status, 200)
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), fileBytes)
    // HEAD and the trustless formats work too
    assert.equal((await fetch(answer.url, { method: 'HEAD' })).status, 200)
    const car = await fetch(`${answer.url}&format=car`)
    assert.equal(car.status, 200)
    assert.equal(car.headers.get('content-type'), 'application/vnd.ipld.car; version=1; order=dfs; dups=n')
    await car.arrayBuffer()
  })

  it('a link for one CID does not open another (403)', async () => {
    const { token } = await shareOk({ cid: fileCid, expiresIn: 60 })
    const response = await fetch(`${coordinator.url}/ipfs/${otherCid}?share=${token}`)
    assert.equal(response.status, 403)
    const body = (await response.json()) as ErrorBody
    assert.equal(body.error.code, 'ERR_FORBIDDEN')
    assert.match(body.error.message, new RegExp(fileCid))
  })

  it('an altered link is refused (401 ERR_SHARE_INVALID)', async () => {
    const { token } = await shareOk({ cid: fileCid, expiresIn: 60 })
    const [header, payload, signature = ''] = token.split('.')
    // a payload naming another CID, with the original signature
    const forged = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as Record<string, unknown>
    forged.cid = otherCid
    const tampered = [
      `${header}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${signature}`,
      `${header}.${payload}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`,
      'not-a-token',
    ]
    for (const bad of tampered) {
      for (const cid of [fileCid, otherCid]) {
        const response = await fetch(`${coordinator.url}/ipfs/${cid}?share=${encodeURIComponent(bad)}`)
        assert.equal(response.status, 401, bad)
        assert.equal(((await response.json()) as ErrorBody).error.code, 'ERR_SHARE_INVALID')
      }
    }
  })

  it('a link stops working after it expires (401 ERR_SHARE_EXPIRED)', async () => {
    const answer = await shareOk({ cid: fileCid, expiresIn: 1 })
    assert.equal((await fetch(answer.url)).status, 200)
    await new Promise((resolve) => setTimeout(resolve, 2100))
    const response = await fetch(answer.url)
    assert.equal(response.status, 401)
    const body = (await response.json()) as ErrorBody
    assert.equal(body.error.code, 'ERR_SHARE_EXPIRED')
    assert.match(body.error.message, /expired/)
  })

  it('a link to a path opens that path and below, and reveals nothing above it (issue 9 item 10)', async () => {
    const answer = await shareOk({ cid: dirCid, path: 'docs', expiresIn: 60 })
    // the link names the CID the path leads to: neither the root nor the path appear
    assert.equal(answer.path, '')
    assert.notEqual(answer.cid, dirCid)
    assert.equal(answer.url, `${coordinator.url}/ipfs/${answer.cid}?share=${answer.token}`)
    assert.ok(!answer.url.includes(dirCid) && !answer.url.includes('docs'))
    const payload = Buffer.from(answer.token.split('.')[1] ?? '', 'base64url').toString()
    assert.ok(!payload.includes(dirCid) && !payload.includes(CID.parse(dirCid).toV1().toString()), 'the token hides the root too')
    const file = await fetch(`${coordinator.url}/ipfs/${answer.cid}/a.txt?share=${answer.token}`)
    assert.equal(file.status, 200)
    assert.equal(await file.text(), 'doc a')
    // the listing keeps the token on its links
    const listing = await fetch(answer.url)
    assert.equal(listing.status, 200)
    assert.ok((await listing.text()).includes(`href="a.txt?share=${answer.token}"`))
    // its CAR holds the docs directory and its file only: no parent block with sibling names
    const car = await CarReader.fromBytes(new Uint8Array(await (await fetch(`${answer.url}&format=car`)).arrayBuffer()))
    const blocks: string[] = []
    for await (const block of car.blocks()) blocks.push(block.cid.toString())
    assert.equal(blocks.length, 2, blocks.join())
    assert.ok(!blocks.includes(dirCid))
    for (const path of ['private/b.txt', 'index.txt', '', 'docs/a.txt']) {
      const response = await fetch(`${coordinator.url}/ipfs/${dirCid}/${path}?share=${answer.token}`)
      assert.equal(response.status, 403, path)
    }
    assert.equal((await share(adminToken, { cid: dirCid, path: 'nope', expiresIn: 60 })).status, 404, 'a path that does not exist')
  })

  it('POST /api/v1/share is account-scoped and validated', async () => {
    assert.equal((await share('', { cid: fileCid, expiresIn: 60 })).status, 401)
    assert.equal((await share(adminToken, { cid: fileCid, expiresIn: 31 * 86400 })).status, 400)
    assert.equal((await share(adminToken, { cid: 'nonsense', expiresIn: 60 })).status, 400)
    assert.equal((await share(adminToken, { cid: fileCid, path: '../x', expiresIn: 60 })).status, 400)
    // a user sees only the CIDs its account references
    const created = await fetch(`${coordinator.url}/api/v1/accounts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'reader@example.com', password: 'correct horse battery' }),
    })
    assert.equal(created.status, 201, await created.clone().text())
    const login = await fetch(`${coordinator.url}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'reader@example.com', password: 'correct horse battery' }),
    })
    const { accessToken } = (await login.json()) as { accessToken: string }
    const refused = await share(accessToken, { cid: fileCid, expiresIn: 60 })
    assert.equal(refused.status, 404)
    assert.equal(((await refused.json()) as ErrorBody).error.code, 'ERR_NOT_FOUND')
  })

  it('pinfold share prints a working link', async () => {
    const env = { PINFOLD_CONFIG_DIR: configDir }
    const login = await runPinfold(['login', '--url', coordinator.url, '--api-key', coordinator.admin.apiKey], { env })
    assert.equal(login.code, 0, login.stderr)
    const plain = await runPinfold(['share', `${dirCid}/docs/a.txt`, '--expires', '1h'], { env })
    assert.equal(plain.code, 0, plain.stderr)
    const url = plain.stdout.trim()
    assert.match(url, new RegExp(`^${coordinator.url}/ipfs/\\w+\\?share=`))
    assert.ok(!url.includes(dirCid), 'the link names the file, not the folder above it')
    assert.equal(await (await fetch(url)).text(), 'doc a')
    const json = await runPinfold(['share', fileCid, '--expires', '90s', '--json'], { env })
    assert.equal(json.code, 0, json.stderr)
    const answer = JSON.parse(json.stdout) as ShareAnswer
    assert.ok(Math.abs(Date.parse(answer.expiresAt) - Date.now() - 90_000) < 5000)
    assert.equal((await fetch(answer.url)).status, 200)
    const bad = await runPinfold(['share', fileCid, '--expires', '40d'], { env })
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /--expires/)
  })
})
