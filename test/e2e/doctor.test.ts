import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { importBytes } from '../../src/core/index.ts'
import { openRepo } from '../../src/repo/index.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { runPinfold } from '../helpers/run-pinfold.ts'

/**
 * Issue 9 item 8: `pinfold doctor` finds origin repo pins no registry pin names (what a
 * dag/import whose registration failed used to leave: never counted, removed or collected).
 */
describe('pinfold doctor against a stopped coordinator (real processes)', () => {
  let coordinator: CoordinatorProcess

  before(async () => {
    coordinator = await startCoordinatorProcess()
    const token = await coordinator.token()
    const form = new FormData()
    form.append('file', new Blob([randomBytes(2000)]), 'registered.bin')
    const added = await fetch(`${coordinator.url}/api/v0/add`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
    assert.equal(added.status, 200, await added.clone().text())
    await added.text()
    await coordinator.stop()
  })
  after(async () => {
    await coordinator?.cleanup()
  })

  it('reports nothing for a healthy data dir, and every repo pin the registry does not know', async () => {
    const clean = await runPinfold(['doctor', '--data-dir', coordinator.dataDir])
    assert.equal(clean.code, 0, clean.stderr)
    assert.match(clean.stdout, /^0 repo pin\(s\) without a registry pin$/m)
    const repo = await openRepo(join(coordinator.dataDir, 'repo'))
    const orphan = await repo.runAdd(async () => {
      const entry = await importBytes(randomBytes(3000), repo.blocks)
      await repo.pins.add(entry.cid)
      return entry.cid.toString()
    })
    await repo.close()
    const found = await runPinfold(['doctor', '--data-dir', coordinator.dataDir, '--json'])
    assert.equal(found.code, 1)
    assert.deepEqual(JSON.parse(found.stdout), { unregisteredRepoPins: [orphan] })
    assert.match(found.stderr, /not in the registry/)
  })
})
