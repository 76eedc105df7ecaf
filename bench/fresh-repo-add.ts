import { rm } from 'node:fs/promises'
import { importPaths } from '../src/core/index.ts'
import { initRepo, openRepo } from '../src/repo/index.ts'

/** `pinfold add` of one file (kubo profile) into a new repo at `repoDir`, durable and pinned; returns the root CID. */
export async function addFileToFreshRepo(file: string, repoDir: string): Promise<string> {
  await rm(repoDir, { recursive: true, force: true })
  await initRepo(repoDir)
  const repo = await openRepo(repoDir)
  try {
    return await repo.runAdd(async () => {
      let root: string | undefined
      for await (const entry of importPaths([file], repo.blocks, { profile: 'kubo' })) {
        await repo.pins.add(entry.cid, { recursive: true })
        root = entry.cid.toString()
      }
      return root ?? ''
    })
  } finally {
    await repo.close()
  }
}
