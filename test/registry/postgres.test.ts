import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { openRegistry } from '../../src/registry/index.ts'
import { registryConformance } from './registry-conformance.ts'

/**
 * Runs the registry conformance suite against PostgreSQL at PINFOLD_TEST_POSTGRES_URL
 * (start one with test/registry/start-test-postgres.sh). Each run creates and drops its own
 * database, so concurrent runs do not collide. Without the variable: fails under CI,
 * skips otherwise.
 */
const baseUrl = process.env.PINFOLD_TEST_POSTGRES_URL

if (baseUrl === undefined || baseUrl === '') {
  const message =
    'PINFOLD_TEST_POSTGRES_URL is not set: start a server with test/registry/start-test-postgres.sh and export the URL it prints'
  if (process.env.CI) {
    it('PostgreSQL registry conformance', () => {
      throw new Error(`${message} (required when CI is set)`)
    })
  } else {
    it('PostgreSQL registry conformance', { skip: message }, () => {})
  }
} else {
  const dbName = `pinfold_test_${Date.now()}_${randomBytes(4).toString('hex')}`
  const testUrl = new URL(baseUrl)
  testUrl.pathname = `/${dbName}`

  async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: baseUrl })
    await client.connect()
    try {
      return await fn(client)
    } finally {
      await client.end()
    }
  }

  describe('postgres', () => {
    before(async () => {
      await admin((c) => c.query(`create database ${dbName}`))
    })
    after(async () => {
      await admin((c) => c.query(`drop database if exists ${dbName} with (force)`))
    })
    registryConformance('postgres', { open: () => openRegistry(testUrl.toString(), { maxConnections: 4 }) })
  })
}
