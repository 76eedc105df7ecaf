import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { initRepo, openRepo } from '../../src/repo/index.ts'
import { tempDir } from './helpers.ts'

describe('repo lock', () => {
  it('refuses an uninitialised dir and a second open; takes over a stale lock', async () => {
    const dir = await tempDir()
    await assert.rejects(openRepo(dir), { code: 'ERR_REPO_NOT_FOUND' })
    await initRepo(dir)
    const repo = await openRepo(dir)
    assert.equal((await readFile(join(dir, 'repo.lock'), 'utf8')).trim(), String(process.pid))
    await assert.rejects(openRepo(dir), { code: 'ERR_REPO_LOCKED' })
    await repo.close()
    await repo.close() // idempotent

    // A lock left by a process that no longer exists.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
    await writeFile(join(dir, 'repo.lock'), `${dead.stdout}\n`)
    const again = await openRepo(dir)
    await again.close()

    // A lock held by a live process (the parent of this test runner, say) is respected.
    await writeFile(join(dir, 'repo.lock'), `${process.ppid}\n`)
    await assert.rejects(openRepo(dir), { code: 'ERR_REPO_LOCKED' })
  })
})
