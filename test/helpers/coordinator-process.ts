import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PINFOLD_BIN } from './run-pinfold.ts'

export interface CoordinatorProcess {
  url: string
  dataDir: string
  admin: { email: string; password: string; apiKey: string }
  process: ChildProcess
  /** Output so far, for assertions and failure messages. */
  output(): string
  /** Access token for an API key (or the admin's key by default). */
  token(apiKey?: string): Promise<string>
  /** Graceful stop (SIGTERM) and wait for exit. */
  stop(): Promise<void>
  /** SIGKILL, as a crash. */
  kill(): Promise<void>
  /** Removes the data directory (after stop/kill). */
  cleanup(): Promise<void>
}

export interface StartCoordinatorOptions {
  /** Reuse a data directory (restart after a crash); a fresh temp one otherwise. */
  dataDir?: string
  /** Registry URL; SQLite in the data dir by default. */
  db?: string
  env?: NodeJS.ProcessEnv
  args?: string[]
  /** Admin credentials from an earlier start of the same data dir. */
  admin?: CoordinatorProcess['admin']
  /** How long to wait for the "listening" line (default 30 s). */
  startTimeoutMs?: number
  /** Sees the output as it arrives, also before the process listens. */
  onOutput?: (text: string) => void
}

/**
 * Starts a real `pinfold serve` process on 127.0.0.1 with an OS-chosen port and waits
 * until it listens; the first start's admin credentials are read from its output.
 */
export async function startCoordinatorProcess(options: StartCoordinatorOptions = {}): Promise<CoordinatorProcess> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'pinfold-coord-')))
  const args = [PINFOLD_BIN, 'serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...(options.args ?? [])]
  if (options.db) args.push('--db', options.db)
  const child = spawn(process.execPath, args, {
    env: { ...process.env, PINFOLD_LOG_LEVEL: 'warn', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const collect = (chunk: Buffer) => {
    output += chunk.toString()
    options.onOutput?.(output)
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coordinator did not start:\n${output}`)), options.startTimeoutMs ?? 30_000)
    const check = () => {
      const match = /listening on (http:\/\/\S+)/.exec(output)
      if (match?.[1]) {
        clearTimeout(timer)
        resolve(match[1])
      }
    }
    child.stdout?.on('data', check)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`coordinator exited with ${code}:\n${output}`))
    })
  })
  const admin = options.admin ?? {
    email: /email:\s+(\S+)/.exec(output)?.[1] ?? '',
    password: /password:\s+(\S+)/.exec(output)?.[1] ?? '',
    apiKey: /API key:\s+(\S+)/.exec(output)?.[1] ?? '',
  }
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name)
    await exited
  }
  return {
    url,
    dataDir,
    admin,
    process: child,
    output: () => output,
    async token(apiKey = admin.apiKey) {
      const response = await fetch(`${url}/api/v1/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ apiKey }),
      })
      if (!response.ok) throw new Error(`token request failed: ${response.status} ${await response.text()}`)
      return ((await response.json()) as { accessToken: string }).accessToken
    },
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    cleanup: () => rm(dataDir, { recursive: true, force: true }),
  }
}
