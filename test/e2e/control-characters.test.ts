import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, before, describe, it } from 'node:test'
import { loadOrCreateNodeIdentity } from '../../src/cluster/index.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { joinOnce, signedJoin } from '../helpers/fake-node.ts'
import { runPinfold } from '../helpers/run-pinfold.ts'

/**
 * Names with terminal control characters or bidi overrides are refused at the API of a real
 * `pinfold serve` with ERR_CONTROL_CHARACTER; one that got into the registry anyway (old
 * data, written here straight into the database) is printed escaped by the CLI.
 */
const SECRET = 'control-characters-cluster-secret-0123'
const HOSTILE = ['a\x1b[2Jb', 'tab\there', 'cr\rlf\n', 'del\x7f', 'c1\x9bx', 'rtl\u202eexe.txt', 'iso\u2066late']

describe('control characters in names (real pinfold serve)', () => {
  let coordinator: CoordinatorProcess
  let token: string
  let work: string

  const api = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const json = body !== undefined && !(body instanceof FormData)
    return fetch(`${coordinator.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(json ? { 'content-type': 'application/json' } : {}), ...headers },
      body: json ? JSON.stringify(body) : (body as FormData | undefined),
    })
  }
  async function refused(response: Response, what: string): Promise<void> {
    const text = await response.text()
    assert.equal(response.status, 400, `${what}: ${text}`)
    assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'ERR_CONTROL_CHARACTER', `${what}: ${text}`)
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'pinfold-controls-'))
    coordinator = await startCoordinatorProcess({ env: { PINFOLD_CLUSTER_SECRET: SECRET } })
    token = await coordinator.token()
  })
  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
    if (work) await rm(work, { recursive: true, force: true })
  })

  it('refuses them in directory paths, renames and moves', async () => {
    const dir = (await (await api('POST', '/api/v1/directories', { path: '/Library/plain' })).json()) as { id: string }
    for (const name of HOSTILE) {
      await refused(await api('POST', '/api/v1/directories', { path: `/Library/${name}` }), `mkdir ${JSON.stringify(name)}`)
      await refused(await api('PATCH', `/api/v1/entries/${dir.id}`, { name }), `rename to ${JSON.stringify(name)}`)
      await refused(await api('PATCH', `/api/v1/entries/${dir.id}`, { parentPath: `/Library/${name}` }), `move under ${JSON.stringify(name)}`)
    }
  })

  it('refuses them in upload paths and filenames, and stores nothing', async () => {
    for (const name of ['esc\x1b]0;pwned\x07.txt', 'rtl\u202etxt.exe']) {
      const form = new FormData()
      form.append('path', '/Library/uploads')
      form.append('file', new Blob(['hello']), name)
      await refused(await api('POST', '/api/v1/uploads', form), `filename ${JSON.stringify(name)}`)
    }
    const form = new FormData()
    form.append('path', '/Library/up\x1bloads')
    form.append('file', new Blob(['hello']), 'ok.txt')
    await refused(await api('POST', '/api/v1/uploads', form), 'upload path')
    const tus = await api('POST', '/api/v1/uploads/tus', undefined, {
      'tus-resumable': '1.0.0',
      'upload-length': '5',
      'upload-metadata': `filename ${Buffer.from('t\x1bus.txt').toString('base64')}`,
    })
    await refused(tus, 'tus filename')
    assert.equal((await api('GET', '/api/v1/entries?path=/Library/uploads')).status, 404, 'no directory was created')
  })

  it('refuses them in key descriptions, pin names and pin request names', async () => {
    await refused(await api('POST', '/api/v1/keys', { description: 'ci \x1b[31mred' }), 'key description')
    const upload = new FormData()
    upload.append('path', '/Library')
    upload.append('file', new Blob(['pin me']), 'pin-me.txt')
    const uploaded = (await (await api('POST', '/api/v1/uploads', upload)).json()) as { upload: { entries: { cid: string }[] } }
    const cid = uploaded.upload.entries[0]?.cid as string
    const pinning = await api('POST', '/pinning/pins', { cid, name: 'pin\u202ename' })
    assert.equal(pinning.status, 400, await pinning.clone().text())
    assert.match(((await pinning.json()) as { error: { details: string } }).error.details, /control character/)
    const kubo = await api('POST', `/api/v0/pin/add?arg=${cid}&name=${encodeURIComponent('k\x1bname')}`)
    assert.equal(kubo.status, 400, await kubo.text())
  })

  it('refuses them in account emails', async () => {
    for (const email of ['evil\x1b@example.com', 'evil\u202e@example.com']) {
      const response = await api('POST', '/api/v1/accounts', { email, password: 'long-enough-password' })
      assert.equal(response.status, 400, await response.text())
    }
  })

  it('refuses a storage node whose name or tags carry them', async () => {
    const identity = await loadOrCreateNodeIdentity(work)
    const cases: [string, Record<string, string>][] = [
      ['node\x1b[2J', {}],
      ['fine', { region: 'eu\u202e' }],
      ['fine', { 're\rgion': 'eu' }],
    ]
    for (const [name, tags] of cases) {
      const received = await joinOnce(coordinator.url, (nonce) => ({ ...signedJoin(identity, nonce, SECRET, name), tags }))
      const answer = received.find((m) => m.type === 'refused' || m.type === 'welcome')
      assert.equal(answer?.type === 'refused' ? answer.code : answer?.type, 'ERR_CONTROL_CHARACTER', JSON.stringify(name))
    }
  })

  it('the CLI prints a name that bypassed the API escaped, in text and in JSON', async () => {
    const made = await api('POST', '/api/v1/directories', { path: '/Library/old-data' })
    assert.equal(made.status, 201)
    const hostile = 'old\x1b]0;owned\x07\x1b[2J\r\n\u202etxt.exe\x9b'
    const db = new DatabaseSync(join(coordinator.dataDir, 'registry.sqlite'))
    try {
      const changed = db.prepare('update entries set name = ? where name = ?').run(hostile, 'old-data')
      assert.equal(changed.changes, 1)
    } finally {
      db.close()
    }
    const configDir = join(work, 'cli')
    const cli = (args: string[]) => runPinfold(args, { env: { PINFOLD_CONFIG_DIR: configDir } })
    assert.equal((await cli(['login', '--url', coordinator.url, '--api-key', coordinator.admin.apiKey])).code, 0)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    const unsafe = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/
    const text = await cli(['files', 'ls', '/Library'])
    assert.equal(text.code, 0, text.stderr)
    assert.doesNotMatch(text.stdout, unsafe)
    assert.ok(text.stdout.includes('old\\x1b]0;owned\\x07\\x1b[2J\\r\\n\\u202etxt.exe\\x9b/'), text.stdout)
    const json = await cli(['files', 'ls', '/Library', '--json'])
    assert.doesNotMatch(json.stdout, unsafe)
    const items = JSON.parse(json.stdout) as { name: string }[]
    assert.ok(items.some((item) => item.name === hostile), 'JSON still carries the exact name')
  })
})
