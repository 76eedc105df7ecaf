import { randomBytes } from 'node:crypto'
import pg from 'pg'

/**
 * A throwaway database on the PostgreSQL server at PINFOLD_TEST_POSTGRES_URL (started by
 * test/registry/start-test-postgres.sh). Undefined when no server is configured.
 */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const base = process.env.PINFOLD_TEST_POSTGRES_URL
  if (!base) return undefined
  const name = `pinfold_e2e_${Date.now()}_${randomBytes(4).toString('hex')}`
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: base })
    await client.connect()
    try {
      await client.query(sql)
    } finally {
      await client.end()
    }
  }
  await admin(`create database ${name}`)
  const url = new URL(base)
  url.pathname = `/${name}`
  return { url: url.toString(), drop: () => admin(`drop database if exists ${name} with (force)`) }
}

/** Registers a failing test under CI and a skipped one elsewhere when PostgreSQL is not configured. */
export const POSTGRES_MISSING =
  'PINFOLD_TEST_POSTGRES_URL is not set: start a server with test/registry/start-test-postgres.sh and export the URL it prints'
