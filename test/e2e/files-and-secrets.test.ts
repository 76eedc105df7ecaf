import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { SignJWT } from 'jose'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { type NodeProcess, startNodeProcess } from '../helpers/node-process.ts'
import { requestWithHost } from '../helpers/request-with-host.ts'

/**
 * Files at rest and secrets (issue 9 item 16), against real `pinfold serve` and
 * `pinfold node` processes started under umask 022: everything they write is private to
 * their user; secrets come from files, never from argv; `/metrics` can require a token;
 * a token without `exp` is refused; share links name the configured public URL.
 */

const PUBLIC_URL = 'https://pinfold.example.org'
const METRICS_TOKEN = 'metrics-token-0123456789abcdef'

/** Every file and directory below `dir` whose mode lets group or others in. */
async function openToOthers(dir: string): Promise<string[]> {
  const found: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name)
    const { mode } = await stat(path)
    if ((mode & 0o077) !== 0) found.push(`${path} ${(mode & 0o777).toString(8)}`)
  }
  return found
}

/**
 * An admin access token for `accountId` signed with the coordinator's token secret,
 * expiring after `expiresIn` (none when absent). A real account: tokens of unknown accounts
 * are refused by the revocation check whatever their signature.
 */
function mint(secret: string, accountId: string, expiresIn?: string): Promise<string> {
  const jwt = new SignJWT({ role: 'admin', scopes: ['read', 'write', 'admin'] })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(accountId)
    .setIssuer('pinfold')
    .setAudience('pinfold-api')
    .setIssuedAt()
  if (expiresIn !== undefined) jwt.setExpirationTime(expiresIn)
  return jwt.sign(new TextEncoder().encode(secret))
}

async function until<T>(probe: () => Promise<T | undefined>, what: () => string): Promise<T> {
  for (let i = 0; i < 150; i++) {
    const value = await probe()
    if (value !== undefined) return value
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`timed out: ${what()}`)
}

describe('files at rest, secrets and public URLs (real pinfold serve + pinfold node)', { timeout: 90_000 }, () => {
  let coordinator: CoordinatorProcess
  let node: NodeProcess
  let work: string
  let token: string
  const clusterSecret = `cluster-${randomBytes(12).toString('hex')}`
  const tokenSecret = randomBytes(32).toString('base64url')
  const previousUmask = process.umask(0o022)

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'pinfold-at-rest-'))
    await writeFile(join(work, 'cluster-secret'), `${clusterSecret}\n`, { mode: 0o600 })
    await writeFile(join(work, 'token-secret'), `${tokenSecret}\n`, { mode: 0o600 })
    coordinator = await startCoordinatorProcess({
      env: {
        PINFOLD_PUBLIC_URL: PUBLIC_URL,
        PINFOLD_METRICS_TOKEN: METRICS_TOKEN,
        PINFOLD_CLUSTER_SECRET_FILE: join(work, 'cluster-secret'),
        PINFOLD_AUTH_TOKEN_SECRET_FILE: join(work, 'token-secret'),
      },
    })
    token = await coordinator.token()
    node = await startNodeProcess({
      join: coordinator.url,
      repo: join(work, 'node-repo'),
      args: ['--secret-file', join(work, 'cluster-secret'), '--name', 'at-rest', '--report-interval', '300ms'],
    })
    await until(async () => {
      const response = await fetch(`${coordinator.url}/api/v1/nodes/${node.id}`, { headers: { authorization: `Bearer ${token}` } })
      const body = (await response.json()) as { status?: string }
      return body.status === 'online' ? true : undefined
    }, node.output)
    // content in every store: registry rows, origin repo packs, a tus upload in progress
    const form = new FormData()
    form.append('path', '/Library')
    form.append('file', new Blob([randomBytes(50_000)]), 'a.bin')
    const upload = await fetch(`${coordinator.url}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
    assert.equal(upload.status, 201, await upload.text())
    const meta = `filename ${Buffer.from('t.bin').toString('base64')},path ${Buffer.from('/Library').toString('base64')}`
    const created = await fetch(`${coordinator.url}/api/v1/uploads/tus`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0', 'upload-length': '100', 'upload-metadata': meta },
    })
    assert.equal(created.status, 201, await created.text())
    const patched = await fetch(new URL(created.headers.get('location') ?? '', coordinator.url), {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0', 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
      body: randomBytes(40),
    })
    assert.equal(patched.status, 204, await patched.text())
  })

  after(async () => {
    process.umask(previousUmask)
    await node?.stop()
    await coordinator?.stop()
    await coordinator?.cleanup()
    if (work) await rm(work, { recursive: true, force: true })
  })

  it('under umask 022 every file the coordinator and the node create is 0600 and every directory 0700', async () => {
    const coordinatorFiles = await readdir(coordinator.dataDir, { recursive: true })
    for (const expected of ['registry.sqlite', 'registry.sqlite-wal', 'coordinator-key.pem', join('repo', 'index.sqlite'), join('uploads', 'tus')]) {
      assert.ok(coordinatorFiles.includes(expected), `${expected} exists (${coordinatorFiles.join(', ')})`)
    }
    assert.ok(coordinatorFiles.some((f) => f.endsWith('.pack')), 'pack files exist')
    assert.ok((await readdir(join(coordinator.dataDir, 'uploads', 'tus'))).length > 0, 'tus files exist')
    assert.deepEqual(await openToOthers(coordinator.dataDir), [])
    assert.ok((await readdir(node.repo, { recursive: true })).some((f) => f.endsWith('node-identity.pem')))
    assert.deepEqual(await openToOthers(node.repo), [])
  })

  async function adminAccountId(): Promise<string> {
    const account = await fetch(`${coordinator.url}/api/v1/account`, { headers: { authorization: `Bearer ${token}` } })
    return ((await account.json()) as { id: string }).id
  }

  it('the cluster secret comes from a file: never in either process’s argv, and the node joined with it', async () => {
    for (const pid of [coordinator.process.pid, node.process.pid]) {
      const argv = await readFile(`/proc/${pid}/cmdline`, 'utf8')
      assert.ok(!argv.includes(clusterSecret), 'not in ps')
    }
    // the token secret came from its file too: a token signed with it is accepted
    const minted = await mint(tokenSecret, await adminAccountId(), '5m')
    const response = await fetch(`${coordinator.url}/api/v1/share`, {
      method: 'POST',
      headers: { authorization: `Bearer ${minted}`, 'content-type': 'application/json' },
      body: '{}',
    })
    assert.equal(response.status, 400, 'authenticated (then refused for its body), not 401')
  })

  it('a token without exp, signed with the real secret, is refused', async () => {
    const forever = await mint(tokenSecret, await adminAccountId())
    const response = await fetch(`${coordinator.url}/api/v1/account`, { headers: { authorization: `Bearer ${forever}` } })
    assert.equal(response.status, 401)
  })

  it('/metrics answers only with metrics.token', async () => {
    assert.equal((await fetch(`${coordinator.url}/metrics`)).status, 401)
    assert.equal((await fetch(`${coordinator.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}x` } })).status, 401)
    assert.equal((await fetch(`${coordinator.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status, 401, 'an API token is not the metrics token')
    const ok = await fetch(`${coordinator.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    assert.equal(ok.status, 200)
    assert.match(await ok.text(), /pinfold_/)
  })

  it('a share link names the configured public URL, whatever Host the request forged', async () => {
    const form = new FormData()
    form.append('path', '/Library/share')
    form.append('file', new Blob(['shared']), 's.txt')
    const upload = await fetch(`${coordinator.url}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
    const cid = ((await upload.json()) as { upload: { cid: string } }).upload.cid
    const body = JSON.stringify({ cid })
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-forwarded-host': 'evil.example' }
    const answer = await requestWithHost(`${coordinator.url}/api/v1/share`, { method: 'POST', host: 'evil.example', headers, body })
    assert.equal(answer.status, 200, answer.body)
    const { url } = JSON.parse(answer.body) as { url: string }
    assert.ok(url.startsWith(`${PUBLIC_URL}/ipfs/${cid}?share=`), url)
  })
})
