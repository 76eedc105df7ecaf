import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { chown, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from './free-port.ts'

const run = promisify(execFile)

/** A PostgreSQL server of its own (own data dir and port) that a test may stop and start at will. */
export interface ThrowawayPostgres {
  /** Connection URL of its `postgres` database. */
  url: string
  port: number
  /** Starts the server and waits until it accepts connections. */
  start(): Promise<void>
  /** `pg_ctl stop -m fast`: open connections are terminated, as in a restart. */
  stop(): Promise<void>
  /** Stops the server and removes its data dir. */
  destroy(): Promise<void>
}

/** The PostgreSQL binaries (PINFOLD_PG_BIN, else the newest under /usr/lib/postgresql); undefined if none. */
export function postgresBinDir(): string | undefined {
  if (process.env.PINFOLD_PG_BIN) return process.env.PINFOLD_PG_BIN
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a))
  return versions.map((v) => join(root, v, 'bin')).find((dir) => existsSync(join(dir, 'initdb')))
}

/**
 * Creates (initdb) a server in a temp dir on a free port, not yet started. As root the
 * server runs as the `postgres` OS user (PostgreSQL refuses to run as root), like
 * test/registry/start-test-postgres.sh. Used by tests (test/helpers) and `npm run demo:ha`.
 */
export async function createThrowawayPostgres(bin: string): Promise<ThrowawayPostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'pinfold-pg-'))
  const data = join(dir, 'data')
  const port = await freePort()
  const asOwner = async (command: string[]) => {
    if (process.getuid?.() !== 0) return run(command[0] as string, command.slice(1))
    return run('su', ['postgres', '-s', '/bin/sh', '-c', command.map((c) => `'${c}'`).join(' ')])
  }
  if (process.getuid?.() === 0) {
    const pg = await run('id', ['-u', 'postgres'])
    const gid = await run('id', ['-g', 'postgres'])
    await chown(dir, Number(pg.stdout.trim()), Number(gid.stdout.trim()))
  }
  await asOwner([join(bin, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'])
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`
  let running = false
  const stop = async () => {
    await asOwner([join(bin, 'pg_ctl'), '-D', data, '-m', 'fast', '-w', 'stop'])
    running = false
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async start() {
      await asOwner([join(bin, 'pg_ctl'), '-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', 'start'])
      running = true
    },
    stop,
    async destroy() {
      if (running) await stop().catch(() => undefined)
      await rm(dir, { recursive: true, force: true })
    },
  }
}
