import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'
import { type ClusterApi, clusterApi, killAll, type NodeProcess, pinnedOn, repoPins, repoTotals, startNodeProcess, until } from '../helpers/node-process.ts'

/**
 * Issue 4: a transfer cut mid-DAG resumes without refetching what it has. A real node with
 * `--bandwidth 4MB/s` fetches a 32 MiB upload from a real coordinator and is SIGKILLed once
 * part of the DAG is durable in its repo; restarted without the cap (and with debug logs),
 * its fetch reports the bytes it transferred, compared with what the repo already held.
 *
 * There is no bytes counter for /ipfs/ on the coordinator (`pinfold_bytes_sent_total`
 * counts client downloads only), so the node's own `pinned` log line (`fetchedBytes`,
 * `skippedBlocks`) is the measure, cross-checked against its repo's index before and after.
 * 4 KiB chunks make the DAG 8,000+ blocks, so the repo's first write batch (4,096 blocks)
 * commits mid-transfer: blocks of an uncommitted batch are not durable across SIGKILL.
 */
const SECRET = 'e2e-cluster-secret-transfer-01234'
const SIZE = 32 * 1024 * 1024

describe('a transfer cut mid-DAG resumes (real processes)', { timeout: 90_000 }, () => {
  let coordinator: CoordinatorProcess
  let api: ClusterApi
  let workDir: string
  const started: NodeProcess[] = []

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'pinfold-e2e-transfer-'))
    coordinator = await startCoordinatorProcess({ env: { PINFOLD_CLUSTER_SECRET: SECRET, PINFOLD_CLUSTER_RECONCILE_INTERVAL_SECONDS: '0.3' } })
    api = clusterApi(coordinator.url, await coordinator.token())
  })

  after(async () => {
    await killAll(started)
    await coordinator?.stop()
    await coordinator?.cleanup()
    if (workDir) await rm(workDir, { recursive: true, force: true })
  })

  it('SIGKILL mid-fetch, restart: only the missing part is transferred', async (t) => {
    const repo = join(workDir, 'node')
    const args = ['--name', 'slow', '--report-interval', '300ms']
    let node = await startNodeProcess({ join: coordinator.url, secret: SECRET, repo, args: [...args, '--bandwidth', '4MB/s'] })
    started.push(node)
    await until(async () => ((await api.node(node.id))?.status === 'online' ? true : undefined), 15_000, () => node.output())

    const [entry] = await api.upload([{ path: 'e2e/big.bin', bytes: new Uint8Array(randomBytes(SIZE)) }], { chunker: 'size-4096' })
    const cid = (entry as { cid: string }).cid
    const t0 = Date.now()
    const partial = await until(
      () => {
        const totals = repoTotals(repo)
        return totals.blocks >= 4096 ? totals : undefined
      },
      30_000,
      () => `a first batch durable in the node repo (${JSON.stringify(repoTotals(repo))})\n${node.output()}`,
    )
    await node.kill()
    const kept = repoTotals(repo)
    t.diagnostic(`killed ${Date.now() - t0} ms into the capped fetch; repo held ${kept.blocks} blocks / ${kept.bytes} bytes`)
    assert.ok(kept.blocks >= partial.blocks, 'committed blocks survive SIGKILL')
    assert.ok(!repoPins(repo, cid), 'not pinned: the DAG was not whole')

    const t1 = Date.now()
    node = await startNodeProcess({ join: coordinator.url, secret: SECRET, repo, args, env: { PINFOLD_LOG_LEVEL: 'debug' } })
    started.push(node)
    await until(async () => (pinnedOn(await api.pinStatus(cid)).includes(node.id) ? true : undefined), 30_000, () => `pinned after restart\n${node.output().slice(-4000)}`)
    const whole = repoTotals(repo)
    const line = node
      .output()
      .split('\n')
      .map((l) => {
        try {
          return JSON.parse(l) as { msg?: string; cid?: string; fetchedBytes?: number; skippedBlocks?: number }
        } catch {
          return {}
        }
      })
      .find((l) => l.msg === 'pinned' && l.cid === cid)
    assert.ok(line?.fetchedBytes !== undefined, `the node logged what it fetched:\n${node.output().slice(-3000)}`)
    const fetched = line.fetchedBytes
    const missing = whole.bytes - kept.bytes
    t.diagnostic(
      `resumed and pinned in ${Date.now() - t1} ms: fetched ${fetched} bytes, skipped ${line.skippedBlocks} blocks; DAG ${whole.bytes} bytes in ${whole.blocks} blocks, ${missing} bytes were missing`,
    )
    assert.ok(whole.bytes >= SIZE, 'the whole DAG is held')
    assert.ok(fetched < whole.bytes - kept.bytes / 2, `fetched ${fetched} of ${whole.bytes}: what was held (${kept.bytes}) was not refetched`)
    assert.ok(Math.abs(fetched - missing) <= whole.bytes * 0.02, `fetched ${fetched} ≈ missing ${missing}`)
    assert.ok((line.skippedBlocks ?? 0) >= kept.blocks * 0.98, `skipped ${line.skippedBlocks} of the ${kept.blocks} held blocks`)
  })
})
