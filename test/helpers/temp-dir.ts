import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before } from 'node:test'

/**
 * Registers a fresh temp directory for the enclosing suite (created before its tests,
 * removed after them) and returns a getter for its path. Call it at suite level.
 */
export function useTempDir(prefix = 'pinfold-test-'): () => string {
  let dir: string | undefined
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix))
  })
  after(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined))
  return () => {
    if (!dir) throw new Error('temp dir used outside its suite')
    return dir
  }
}
