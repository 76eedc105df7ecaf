import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import type { CID } from 'multiformats/cid'
import { exportCar, importEntries, MemoryBlockstore } from '../../src/core/index.ts'
import { type CoordinatorProcess, startCoordinatorProcess } from '../helpers/coordinator-process.ts'

const LINKS = 6000
const CONCURRENT = 16
const HEAVY_READS = 3

/** Resident set size of a process in MiB, from /proc (Linux). */
function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024
}

async function directoryCar(): Promise<{ root: CID; car: Blob }> {
  const store = new MemoryBlockstore()
  const files = Array.from({ length: LINKS }, (_, i) => ({ path: `big/entry-${i}.txt`, content: new TextEncoder().encode(`file ${i}`) }))
  let root: CID | undefined
  for await (const entry of importEntries(files, store, { profile: 'kubo' })) if (entry.path === 'big') root = entry.cid
  assert.ok(root)
  const chunks: Uint8Array[] = []
  for await (const chunk of exportCar(store, root)) chunks.push(chunk)
  return { root, car: new Blob(chunks as Uint8Array<ArrayBuffer>[]) }
}

/**
 * Issue 9 item 7: listings of a large directory are expensive, so one account (or one
 * anonymous address) may run only `limits.heavyReadsPerAccount` of them at once; the rest are
 * refused at once with 429 instead of piling up in a small-heap coordinator's memory.
 */
describe('heavy reads are bounded per account (real server, small heap)', () => {
  let coordinator: CoordinatorProcess
  let token: string
  let root: CID

  before(async () => {
    coordinator = await startCoordinatorProcess({
      env: { NODE_OPTIONS: '--max-old-space-size=128', PINFOLD_LIMITS_HEAVY_READS_PER_ACCOUNT: String(HEAVY_READS) },
    })
    token = await coordinator.token()
    const built = await directoryCar()
    root = built.root
    const form = new FormData()
    form.append('file', built.car, 'dir.car')
    const imported = await fetch(`${coordinator.url}/api/v0/dag/import`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
    assert.equal(imported.status, 200, await imported.text())
  })

  after(async () => {
    await coordinator?.stop()
    await coordinator?.cleanup()
  })

  /** Fires CONCURRENT requests at once; every answer is a complete 200 or a 429 with the stable code. */
  async function burst(request: () => Promise<Response>, complete: (body: string) => boolean): Promise<{ ok: number; refused: number; peakRss: number }> {
    const pid = coordinator.process.pid as number
    let peakRss = rssMiB(pid)
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, rssMiB(pid))
    }, 50)
    try {
      const answers = await Promise.all(
        Array.from({ length: CONCURRENT }, async () => {
          const response = await request()
          return { status: response.status, body: await response.text() }
        }),
      )
      let ok = 0
      let refused = 0
      for (const { status, body } of answers) {
        if (status === 200) {
          assert.ok(complete(body), 'a 200 listing is complete')
          ok++
        } else {
          assert.equal(status, 429, body.slice(0, 200))
          assert.match(body, /ERR_TOO_MANY_HEAVY_READS|more than 3 directory listings/)
          refused++
        }
      }
      return { ok, refused, peakRss }
    } finally {
      clearInterval(sampler)
    }
  }

  it('gateway directory listings: at most the limit run, the rest get 429, the server stays up', async (t) => {
    const before = rssMiB(coordinator.process.pid as number)
    const result = await burst(
      () => fetch(`${coordinator.url}/ipfs/${root}/`, { headers: { authorization: `Bearer ${token}` } }),
      (body) => body.includes(`entry-${LINKS - 1}.txt`) && body.trimEnd().endsWith('</html>'),
    )
    t.diagnostic(`listings of ${LINKS} links: ${result.ok} served, ${result.refused} refused; RSS ${before.toFixed(0)} → peak ${result.peakRss.toFixed(0)} MiB`)
    assert.ok(result.ok >= 1 && result.ok <= CONCURRENT - 1, `served ${result.ok}`)
    assert.ok(result.refused >= CONCURRENT - 2 * HEAVY_READS, `refused ${result.refused}`)
    assert.equal((await fetch(`${coordinator.url}/healthz`)).status, 200)
    // slots are given back: a listing after the burst is served
    const again = await fetch(`${coordinator.url}/ipfs/${root}/`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(again.status, 200)
    await again.arrayBuffer()
  })

  it('Kubo ls shares the same budget and streams a complete answer', async () => {
    const result = await burst(
      () => fetch(`${coordinator.url}/api/v0/ls?arg=${root}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } }),
      (body) => {
        const parsed = JSON.parse(body) as { Objects: { Hash: string; Links: { Name: string }[] }[] }
        return parsed.Objects.length === 1 && parsed.Objects[0]?.Links.length === LINKS
      },
    )
    assert.ok(result.ok >= 1 && result.refused >= CONCURRENT - 2 * HEAVY_READS, `served ${result.ok}, refused ${result.refused}`)
    assert.equal(coordinator.process.exitCode, null)
  })
})
