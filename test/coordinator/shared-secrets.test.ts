import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { resolveCoordinatorSecrets } from '../../src/coordinator/shared-secrets.ts'
import { openRegistry } from '../../src/registry/index.ts'
import { createTestDatabase, POSTGRES_MISSING } from '../helpers/postgres-database.ts'

describe('coordinator secrets shared through the registry', () => {
  const dirs: string[] = []
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pinfold-secrets-'))
    dirs.push(dir)
    return dir
  }
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it("a single SQLite coordinator's data-dir secrets move into the registry and stay the same", async () => {
    const dataDir = await tempDir()
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    await writeFile(join(dataDir, 'token-secret'), `${'t'.repeat(43)}\n`)
    await writeFile(join(dataDir, 'cluster-secret'), `${'c'.repeat(32)}\n`)
    await writeFile(join(dataDir, 'coordinator-key.pem'), pem)
    const registry = await openRegistry(`sqlite:${join(dataDir, 'registry.sqlite')}`)
    try {
      const secrets = await resolveCoordinatorSecrets(registry, {}, dataDir)
      assert.equal(secrets.tokenSecret, 't'.repeat(43))
      assert.deepEqual(secrets.clusterSecret, { secret: 'c'.repeat(32), generated: false }, 'an existing secret is not shown as new')
      const rows = await registry.db.selectFrom('coordinator_secrets').select(['name', 'value']).orderBy('name').execute()
      assert.deepEqual(rows.map((r) => ({ ...r })), [
        { name: 'cluster-secret', value: 'c'.repeat(32) },
        { name: 'coordinator-key.pem', value: pem },
        { name: 'token-secret', value: 't'.repeat(43) },
      ])
      // the registry is the source from now on: a lost file comes back with the same value
      await rm(join(dataDir, 'token-secret'))
      assert.equal((await resolveCoordinatorSecrets(registry, {}, dataDir)).tokenSecret, 't'.repeat(43))
      assert.equal((await readFile(join(dataDir, 'token-secret'), 'utf8')).trim(), 't'.repeat(43))
    } finally {
      await registry.close()
    }
  })

  it('replicas starting at once on PostgreSQL agree on every secret; configured values win and are not stored', async (context) => {
    const database = await createTestDatabase()
    if (!database) return context.skip(POSTGRES_MISSING)
    const registries = await Promise.all([openRegistry(database.url), openRegistry(database.url), openRegistry(database.url)])
    try {
      const all = await Promise.all(registries.map(async (registry) => resolveCoordinatorSecrets(registry, {}, await tempDir())))
      const first = all[0] as (typeof all)[number]
      for (const secrets of all) {
        assert.equal(secrets.tokenSecret, first.tokenSecret)
        assert.equal(secrets.clusterSecret.secret, first.clusterSecret.secret)
        assert.deepEqual(secrets.coordinatorKey.publicKey, first.coordinatorKey.publicKey)
      }
      assert.equal(all.filter((s) => s.clusterSecret.generated).length, 1, 'exactly one replica generated (and shows) the cluster secret')
      const configured = await resolveCoordinatorSecrets(registries[0] as (typeof registries)[number], { tokenSecret: 'x'.repeat(40) }, await tempDir())
      assert.equal(configured.tokenSecret, 'x'.repeat(40))
      const stored = await (registries[0] as (typeof registries)[number]).db.selectFrom('coordinator_secrets').select('value').where('name', '=', 'token-secret').executeTakeFirst()
      assert.equal(stored?.value, first.tokenSecret)
    } finally {
      for (const registry of registries) await registry.close()
      await database.drop()
    }
  })
})
