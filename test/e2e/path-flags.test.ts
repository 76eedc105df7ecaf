import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { until } from '../helpers/node-process.ts'
import { PINFOLD_BIN } from '../helpers/run-pinfold.ts'

/**
 * Runs `pinfold ARGS` from `cwd` until it prints its "ready" line, then stops it with
 * SIGTERM (or collects its exit when it refuses to start); returns its output and exit code.
 */
async function runUntilReady(args: string[], cwd: string, ready: RegExp): Promise<{ output: string; code: number | null }> {
  const child = spawn(process.execPath, [PINFOLD_BIN, ...args], {
    cwd,
    env: { ...process.env, PINFOLD_LOG_LEVEL: 'warn', PINFOLD_REPO: '', PINFOLD_CONFIG: '', PINFOLD_DATA_DIR: '', PINFOLD_DB: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (c: Buffer) => {
    output += c.toString()
  })
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let ended = false
  void exited.then(() => {
    ended = true
  })
  await until(() => (ready.test(output) || ended ? true : undefined), 60_000, () => `${args.join(' ')}: ready\n${output}`)
  if (!ended) child.kill('SIGTERM')
  return { output, code: await exited }
}

const LISTENING = /listening on http/
const has = (...parts: string[]) => existsSync(join(...parts))

describe('path flags of serve, start and node put files where they say, never in the cwd', () => {
  let work: string
  let cwd: string
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'pinfold-paths-'))
  })
  after(() => rm(work, { recursive: true, force: true }))

  const freshCwd = async (name: string) => {
    cwd = join(work, name, 'cwd')
    await mkdir(cwd, { recursive: true })
    return join(work, name)
  }
  const cwdIsEmpty = async () => assert.deepEqual(await readdir(cwd), [], 'nothing lands in the current directory')

  it('serve --data-dir D: registry, origin repo and secrets under D', async () => {
    const base = await freshCwd('data-dir')
    const run = await runUntilReady(['serve', '--listen', '127.0.0.1:0', '--data-dir', join(base, 'd')], cwd, LISTENING)
    assert.equal(run.code, 0, run.output)
    for (const file of ['registry.sqlite', 'repo/config.json', 'token-secret', 'cluster-secret', 'coordinator-key.pem']) {
      assert.ok(has(base, 'd', file), `${file} under the data dir`)
    }
    await cwdIsEmpty()
  })

  it('serve --repo R: the origin repo is R (also when --repo comes before the command)', async () => {
    for (const [i, args] of [
      ['serve', '--listen', '127.0.0.1:0', '--data-dir', 'D', '--repo', 'R'],
      ['--repo', 'R', 'serve', '--listen', '127.0.0.1:0', '--data-dir', 'D'],
    ].entries()) {
      const base = await freshCwd(`repo-${i}`)
      const run = await runUntilReady(args.map((a) => (a === 'D' ? join(base, 'd') : a === 'R' ? join(base, 'r') : a)), cwd, LISTENING)
      assert.equal(run.code, 0, run.output)
      assert.ok(has(base, 'r', 'config.json'), `origin repo at --repo (${args.join(' ')})\n${run.output}`)
      assert.ok(!has(base, 'd', 'repo'), 'no origin repo under the data dir')
      assert.ok(has(base, 'd', 'registry.sqlite'))
      await cwdIsEmpty()
    }
  })

  it('serve --db sqlite:P: the registry is P, not under the data dir', async () => {
    const base = await freshCwd('db')
    const run = await runUntilReady(
      ['serve', '--listen', '127.0.0.1:0', '--data-dir', join(base, 'd'), '--db', `sqlite:${join(base, 'elsewhere', 'reg.sqlite')}`],
      cwd,
      LISTENING,
    )
    assert.equal(run.code, 0, run.output)
    assert.ok(has(base, 'elsewhere', 'reg.sqlite'))
    assert.ok(!has(base, 'd', 'registry.sqlite'))
    await cwdIsEmpty()
  })

  it('serve --config F: dataDir and repo from the file', async () => {
    const base = await freshCwd('config')
    const file = join(base, 'pinfold.json')
    await writeFile(file, JSON.stringify({ dataDir: join(base, 'd'), repo: join(base, 'r'), listen: '127.0.0.1:0' }))
    const run = await runUntilReady(['serve', '--config', file], cwd, LISTENING)
    assert.equal(run.code, 0, run.output)
    assert.ok(has(base, 'r', 'config.json'))
    assert.ok(has(base, 'd', 'registry.sqlite'))
    await cwdIsEmpty()
  })

  it('start --data-dir D --repo R: origin repo R, the embedded node under D/node', async () => {
    const base = await freshCwd('start')
    const run = await runUntilReady(['start', '--listen', '127.0.0.1:0', '--data-dir', join(base, 'd'), '--repo', join(base, 'r')], cwd, LISTENING)
    assert.equal(run.code, 0, run.output)
    assert.ok(has(base, 'r', 'config.json'), run.output)
    assert.ok(has(base, 'd', 'node', 'node-identity.pem'))
    assert.ok(!has(base, 'd', 'repo'))
    await cwdIsEmpty()
  })

  it('node --repo N --storage-path S: the repo is N (relative to the cwd), storage paths as given (relative ones inside N)', async () => {
    await freshCwd('node')
    // the files land before the node reaches its coordinator: an unreachable one is enough
    const run = await runUntilReady(
      ['node', '--join', 'http://127.0.0.1:9', '--secret', 'x'.repeat(16), '--repo', 'n', '--storage-path', 's:1GB:2', '--storage-path', `${join(work, 'node', 'abs')}::3`],
      cwd,
      /serving \/ipfs\//,
    )
    assert.equal(run.code, 0, run.output)
    assert.ok(has(cwd, 'n', 'config.json'), `node repo at ./n\n${run.output}`)
    assert.ok(has(cwd, 'n', 'node-identity.pem'))
    assert.ok(has(cwd, 'n', 's', 'sectorstore.json'), `relative storage path inside the repo\n${run.output}`)
    assert.ok(has(work, 'node', 'abs', 'sectorstore.json'), `absolute storage path where it says\n${run.output}`)
    assert.deepEqual(await readdir(cwd), ['n'])
  })

  it('refuses a path flag it cannot honour with a clear error', async () => {
    await freshCwd('refused')
    const file = join(cwd, 'not-a-dir')
    await writeFile(file, '')
    const run = await runUntilReady(['serve', '--listen', '127.0.0.1:0', '--data-dir', file], cwd, LISTENING)
    assert.equal(run.code, 1, run.output)
    assert.match(run.output, /^Error: [\s\S]*not-a-dir: cannot create/m)
  })
})
