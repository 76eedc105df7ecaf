import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { runPinfold } from '../helpers/run-pinfold.ts'
import { useTempDir } from '../helpers/temp-dir.ts'

const HELLO_WORLD_V0 = 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD'
const HELLO_WORLD_V1 = 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'

/** Every user mistake is one `Error: …` line on stderr, a non-zero exit and no stack trace. */
function assertUserError(run: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(run.code, 1, `exit code, stderr: ${run.stderr}`)
  const lines = run.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line expected, got: ${run.stderr}`)
  assert.match(lines[0] ?? '', /^Error: /)
  assert.match(lines[0] ?? '', pattern)
  assert.doesNotMatch(run.stderr, /\n\s+at /)
}

async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) found.push(join(entry.parentPath, entry.name))
  }
  return found
}

describe('pinfold CLI', () => {
  const workDir = useTempDir()
  let work: string
  let repo: string

  before(async () => {
    work = workDir()
    repo = join(work, 'repo')
    const init = await runPinfold(['init'], { repo })
    assert.equal(init.code, 0, init.stderr)
  })

  it('adds a file with the CID Kubo gives and cats the same bytes back', async () => {
    const file = join(work, 'hello.txt')
    await writeFile(file, 'hello world')
    const add = await runPinfold(['add', file], { repo })
    assert.equal(add.code, 0, add.stderr)
    assert.equal(add.stdout.trim(), `added ${HELLO_WORLD_V0} hello.txt`)
    const v1 = await runPinfold(['add', '--quiet', '--cid-version', '1', file], { repo })
    assert.equal(v1.stdout.trim(), HELLO_WORLD_V1)
    const cat = await runPinfold(['cat', HELLO_WORLD_V0], { repo })
    assert.equal(cat.stdout, 'hello world')
    const part = await runPinfold(['cat', HELLO_WORLD_V0, '--offset', '6', '--length', '3'], { repo })
    assert.equal(part.stdout, 'wor')
  })

  it('round-trips a directory tree with mtimes through add, ls and get', async () => {
    const tree = join(work, 'tree')
    await mkdir(join(tree, 'nested', 'deeper'), { recursive: true })
    const big = randomBytes(3 * 1024 * 1024 + 17)
    await writeFile(join(tree, 'big.bin'), big)
    await writeFile(join(tree, 'nested', 'a.txt'), 'alpha')
    await writeFile(join(tree, 'nested', 'deeper', 'b.txt'), 'beta')
    const mtime = new Date('2021-03-04T05:06:07Z')
    await utimes(join(tree, 'nested', 'a.txt'), mtime, mtime)

    const add = await runPinfold(['add', '--quiet', '--preserve-mtime', tree], { repo })
    assert.equal(add.code, 0, add.stderr)
    const root = add.stdout.trim()
    assert.equal(root.split('\n').length, 1, 'quiet prints only the root')

    const ls = await runPinfold(['ls', root], { repo })
    assert.deepEqual(
      ls.stdout.trim().split('\n').map((line) => line.split(' ').at(-1)),
      ['big.bin', 'nested/'],
    )
    const out = join(work, 'restored')
    const get = await runPinfold(['get', root, '-o', out], { repo })
    assert.equal(get.code, 0, get.stderr)
    const restored = (await filesUnder(out)).map((path) => path.slice(out.length)).sort()
    assert.equal(restored.length, 3)
    // as `ipfs get -o`, the root directory becomes the output directory itself
    const base = out
    assert.deepEqual(await readFile(join(base, 'big.bin')), big)
    assert.equal(await readFile(join(base, 'nested', 'deeper', 'b.txt'), 'utf8'), 'beta')
    assert.equal((await stat(join(base, 'nested', 'a.txt'))).mtime.getTime(), mtime.getTime())

    const pins = await runPinfold(['pin', 'ls'], { repo })
    assert.match(pins.stdout, new RegExp(`^${root} recursive`, 'm'))
  })

  it('exports a CAR and imports it into a fresh repository', async () => {
    const file = join(work, 'car-source.bin')
    const bytes = randomBytes(700_000)
    await writeFile(file, bytes)
    const root = (await runPinfold(['add', '-Q', file], { repo })).stdout.trim()
    const car = join(work, 'dag.car')
    const exported = await runPinfold(['car', 'export', root, '-o', car], { repo })
    assert.equal(exported.code, 0, exported.stderr)

    const fresh = join(work, 'fresh-repo')
    await runPinfold(['init'], { repo: fresh })
    const imported = await runPinfold(['car', 'import', car], { repo: fresh })
    assert.equal(imported.code, 0, imported.stderr)
    assert.match(imported.stdout, new RegExp(`imported ${root} \\(pinned\\)`))
    const cat = await runPinfold(['cat', root], { repo: fresh })
    assert.deepEqual(cat.stdoutBytes, bytes)
  })

  it('unpins and garbage-collects, keeping what other pins share', async () => {
    const gcRepo = join(work, 'gc-repo')
    await runPinfold(['init'], { repo: gcRepo })
    const shared = randomBytes(600_000)
    const one = join(work, 'one.bin')
    const two = join(work, 'two.bin')
    await writeFile(one, shared)
    await writeFile(two, Buffer.concat([shared.subarray(0, 262144), randomBytes(10)]))
    const cidOne = (await runPinfold(['add', '-Q', one], { repo: gcRepo })).stdout.trim()
    const cidTwo = (await runPinfold(['add', '-Q', two], { repo: gcRepo })).stdout.trim()
    const rm = await runPinfold(['pin', 'rm', cidOne], { repo: gcRepo })
    assert.equal(rm.code, 0, rm.stderr)
    const gc = await runPinfold(['gc', '--json'], { repo: gcRepo })
    assert.ok(JSON.parse(gc.stdout).removedBlocks > 0)
    assert.equal((await runPinfold(['cat', cidTwo], { repo: gcRepo })).stdoutBytes.length, 262154)
    assertUserError(await runPinfold(['cat', cidOne], { repo: gcRepo }), /block not found/)
    assertUserError(await runPinfold(['pin', 'rm', cidOne], { repo: gcRepo }), /not pinned/)
  })

  it('finds a block changed on disk with repo verify, and drops it', async () => {
    const verifyRepo = join(work, 'verify-repo')
    await runPinfold(['init'], { repo: verifyRepo })
    const file = join(work, 'verify.bin')
    await writeFile(file, randomBytes(1_000_000))
    await runPinfold(['add', '-Q', file], { repo: verifyRepo })
    assert.equal((await runPinfold(['repo', 'verify'], { repo: verifyRepo })).code, 0)

    const blockFiles = (await filesUnder(verifyRepo)).filter((path) => path.includes(`${join('blocks', '')}`))
    const victim = blockFiles[0]
    assert.ok(victim, 'block files exist on disk')
    const original = await readFile(victim)
    original[original.length - 1] = (original.at(-1) ?? 0) ^ 0xff
    await writeFile(victim, original)

    const verify = await runPinfold(['repo', 'verify', '--json'], { repo: verifyRepo })
    assert.equal(verify.code, 1)
    assert.equal(JSON.parse(verify.stdout.trim().split('\n')[0] ?? '{}').corrupt.length, 1)
    const drop = await runPinfold(['repo', 'verify', '--drop', '--json'], { repo: verifyRepo })
    assert.equal(drop.code, 0, drop.stderr)
    assert.equal(JSON.parse(drop.stdout).dropped, 1)
    assert.equal((await runPinfold(['repo', 'verify'], { repo: verifyRepo })).code, 0)
  })

  it('manages storage paths on a live repository', async () => {
    const extra = join(work, 'extra-store')
    const add = await runPinfold(['storage', 'add', extra, '--max-size', '10MiB', '--weight', '5', '--json'], { repo })
    assert.equal(add.code, 0, add.stderr)
    const info = JSON.parse(add.stdout)
    assert.equal(info.maxSize, 10 * 2 ** 20)
    assert.equal(info.weight, 5)
    const set = await runPinfold(['storage', 'set', info.id, '--weight', '0', '--json'], { repo })
    assert.equal(JSON.parse(set.stdout).weight, 0)
    const ls = await runPinfold(['storage', 'ls'], { repo })
    assert.equal(ls.stdout.trim().split('\n').length, 2)
    assertUserError(await runPinfold(['storage', 'add', extra, '--max-size', 'lots'], { repo }), /invalid --max-size/)
  })

  it('answers user mistakes with one clear line', async () => {
    assertUserError(await runPinfold(['cat', 'not-a-cid'], { repo }), /invalid CID/)
    assertUserError(await runPinfold(['pin', 'add', 'Qm'], { repo }), /invalid CID/)
    assertUserError(
      await runPinfold(['cat', 'QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nm'], { repo }),
      /invalid CID|block not found/,
    )
    assertUserError(
      await runPinfold(['cat', 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'], { repo }),
      /block not found/,
    )
    assertUserError(await runPinfold(['add', join(work, 'does-not-exist')], { repo }), /does-not-exist/)
    const garbage = join(work, 'garbage.car')
    await writeFile(garbage, randomBytes(300))
    assertUserError(await runPinfold(['car', 'import', garbage], { repo }), /invalid CAR/)
    assertUserError(await runPinfold(['cat', HELLO_WORLD_V0], { repo: join(work, 'nowhere') }), /repo/i)
    const unreadable = join(work, 'secret.txt')
    await writeFile(unreadable, 'x')
    await chmod(unreadable, 0o000)
    if (process.getuid?.() !== 0) assertUserError(await runPinfold(['add', unreadable], { repo }), /secret\.txt/)
    const unknown = await runPinfold(['frobnicate'], { repo })
    assert.notEqual(unknown.code, 0)
    assert.match(unknown.stderr, /unknown command/)
  })
})
