import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { type BlockSource, blockLinks } from '../../src/core/index.ts'
import { initRepo, type OpenRepoOptions, openRepo, type Repo } from '../../src/repo/index.ts'

const created: string[] = []
const cleanups: Array<() => Promise<void>> = []
// Registered at import time, so it runs once at the end of the importing test file.
after(async () => {
  for (const fn of cleanups.splice(0)) await fn().catch(() => {})
  for (const dir of created.splice(0)) await rm(dir, { recursive: true, force: true })
})

/** A fresh directory under the OS temp dir, removed after the test file. */
export async function tempDir(prefix = 'pinfold-repo-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  created.push(dir)
  return dir
}

/** A new initialised and opened repo in a fresh temp dir (closed after the test file). */
export async function freshRepo(options: OpenRepoOptions = {}): Promise<Repo> {
  const dir = await tempDir()
  await initRepo(dir)
  const repo = await openRepo(dir, options)
  cleanups.push(() => repo.close())
  return repo
}

export async function rawBlock(bytes: Uint8Array): Promise<{ cid: CID; bytes: Uint8Array }> {
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

/** Deterministic pseudo-random bytes (xorshift32) for `seed`. */
export function pseudoRandom(size: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4))
  let x = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    words[i] = x
  }
  return new Uint8Array(words.buffer, 0, size)
}

/** Every CID of the DAG under `root`, reading every block (throws if one is unreadable). */
export async function walkAll(source: BlockSource, root: CID): Promise<CID[]> {
  const seen = new Set<string>()
  const out: CID[] = []
  const stack = [root]
  while (stack.length > 0) {
    const cid = stack.pop() as CID
    const key = Buffer.from(cid.multihash.bytes).toString('hex')
    if (seen.has(key)) continue
    seen.add(key)
    out.push(cid)
    const bytes = await source.get(cid)
    stack.push(...blockLinks(cid, bytes))
  }
  return out
}
