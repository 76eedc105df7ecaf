import { type ChildProcess, spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'

/** haproxy (the Debian package) in front of coordinator replicas: used by `npm run demo:ha` and the HA e2e test. */
export interface Haproxy {
  /** Where clients and nodes reach the coordinators, e.g. http://127.0.0.1:8080 */
  url: string
  /** haproxy's own status page (which replicas pass `/readyz`). */
  statsUrl: string
  output(): string
  stop(): Promise<void>
}

export interface HaproxyOptions {
  /** Port the proxy listens on (127.0.0.1). */
  port: number
  statsPort: number
  /** Coordinator replicas, `host:port` each. */
  backends: string[]
  /** Where haproxy.cfg is written. */
  dir: string
}

/**
 * The configuration docs/operations.md documents: HTTP mode; a replica receives requests
 * while its `/readyz` answers 200 (checked every second, out after 2 failures, back after
 * 1 success); a connection refused by a dead replica is retried on another;
 * WebSocket control channels (nodes) and long downloads get a long tunnel timeout.
 */
export function haproxyConfig({ port, statsPort, backends }: Omit<HaproxyOptions, 'dir'>): string {
  return [
    'global',
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 5m',
    '  timeout server 5m',
    '  timeout tunnel 1h',
    '  retries 3',
    '  option redispatch',
    `frontend pinfold`,
    `  bind 127.0.0.1:${port}`,
    '  default_backend coordinators',
    'backend coordinators',
    '  balance roundrobin',
    '  option httpchk GET /readyz',
    '  http-check expect status 200',
    '  default-server inter 1s fall 2 rise 1',
    ...backends.map((address, i) => `  server c${i + 1} ${address} check`),
    'listen stats',
    `  bind 127.0.0.1:${statsPort}`,
    '  stats enable',
    '  stats uri /',
    '',
  ].join('\n')
}

/** Writes the configuration and starts haproxy in the foreground; resolves once it accepts connections. */
export async function startHaproxy(options: HaproxyOptions): Promise<Haproxy> {
  const file = join(options.dir, 'haproxy.cfg')
  await writeFile(file, haproxyConfig(options))
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const collect = (chunk: Buffer) => {
    output += chunk.toString()
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.once('error', (error) => {
    output += `${error.message} (is the haproxy package installed?)\n`
  })
  const deadline = Date.now() + 10_000
  while (!(await accepts(options.port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`haproxy did not start:\n${output}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    url: `http://127.0.0.1:${options.port}`,
    statsUrl: `http://127.0.0.1:${options.statsPort}/`,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
