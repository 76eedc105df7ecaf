import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { it } from 'node:test'
import { initRepo, openRepo } from '../../src/repo/index.ts'
import { tempDir, walkAll } from './helpers.ts'

const CHILD = join(import.meta.dirname, 'fixtures', 'add-child.ts')
const SIZE = 64 * 1024 * 1024
const RUNS = 9

/** Runs the child; kills it with SIGKILL `killAfterMs` after it opened the repo. */
function runChild(dir: string, seed: number, killAfterMs: number): Promise<{ pinned?: string; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, String(seed), String(SIZE)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    let timer: NodeJS.Timeout | undefined
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (timer === undefined && out.includes('OPENED')) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
    })
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      const pinned = /PINNED (\S+)/.exec(out)?.[1]
      if (signal !== 'SIGKILL' && code !== 0) reject(new Error(`child failed (${code}): ${err}`))
      else resolve(pinned === undefined ? { killed: signal === 'SIGKILL' } : { pinned, killed: signal === 'SIGKILL' })
    })
  })
}

it('SIGKILL at random moments during import + pin never leaves a corrupt repo or a broken pin', async (t) => {
  const dir = await tempDir('pinfold-crash-')
  await initRepo(dir)
  const completed: string[] = []
  // Run 0 is not killed: it measures how long an import + pin takes on this machine. Later runs
  // are killed at a random moment within 0–110 % of that, i.e. mostly mid-import.
  let fullRunMs = 0
  for (let run = 0; run < RUNS; run++) {
    const delay = run === 0 ? 60_000 : Math.floor(Math.random() * fullRunMs * 1.1)
    const started = performance.now()
    const result = await runChild(dir, run + 1, delay)
    if (run === 0) {
      assert.ok(result.pinned !== undefined, 'an uninterrupted run pins')
      fullRunMs = /* time after OPENED is what matters; spawn + open take roughly 300 ms */ Math.max(
        200,
        performance.now() - started - 300,
      )
    }
    if (result.pinned !== undefined) completed.push(result.pinned)
    t.diagnostic(
      `run ${run}: kill after ${delay} ms, killed=${result.killed}, pinned=${result.pinned ?? '-'}, ${Math.round(performance.now() - started)} ms`,
    )

    const repo = await openRepo(dir) // the dead child's lock is stale: taken over
    try {
      const report = await repo.verify()
      assert.deepEqual(report.corrupt, [], 'no corrupt block')
      assert.deepEqual(report.missing, [], 'no missing block')
      assert.deepEqual(report.damagedPins, [], 'no damaged pin')
      const pins = new Set<string>()
      for await (const pin of repo.pins.ls()) {
        pins.add(pin.cid.toString())
        const cids = await walkAll(repo.blocks, pin.cid)
        assert.ok(cids.length > 256, 'a 64 MiB DAG has more than 256 blocks')
      }
      for (const cid of completed) assert.ok(pins.has(cid), `completed run's pin ${cid} survives`)
      await repo.gc() // drop blocks of interrupted runs, keep pinned DAGs
      const after = await repo.verify()
      assert.deepEqual(after.corrupt, [])
      assert.deepEqual(after.missing, [])
    } finally {
      await repo.close()
    }
  }
})
