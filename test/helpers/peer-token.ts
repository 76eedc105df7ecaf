import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { issuePeerToken } from '../../src/cluster/index.ts'
import { coordinatorKeyFromPem } from '../../src/coordinator/cluster/index.ts'

/**
 * A peer token signed with a SQLite coordinator's key (its data dir keeps a copy of the
 * registry's), for `subject` to present at `audience` (a node id, or `coordinator`): what the
 * coordinator hands nodes in `sources`, minted by a test to read a node's gateway directly.
 */
export async function peerTokenFor(dataDir: string, subject: string, audience: string, ttlSeconds = 600): Promise<string> {
  const key = coordinatorKeyFromPem(await readFile(join(dataDir, 'coordinator-key.pem'), 'utf8'))
  return (await issuePeerToken(key.privateKey, subject, audience, ttlSeconds)).token
}
