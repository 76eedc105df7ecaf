import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const PINFOLD_BIN = fileURLToPath(new URL('../../bin/pinfold.js', import.meta.url))

export interface PinfoldRun {
  code: number | null
  stdout: string
  stderr: string
  stdoutBytes: Buffer
}

/** Runs the real `pinfold` CLI in a child process and collects its output. */
export function runPinfold(args: string[], options: { repo?: string; env?: NodeJS.ProcessEnv } = {}): Promise<PinfoldRun> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, PINFOLD_DEBUG: '' }
    if (options.repo) env.PINFOLD_REPO = options.repo
    const child = spawn(process.execPath, [PINFOLD_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
    child.on('error', reject)
    child.on('close', (code) => {
      const stdoutBytes = Buffer.concat(out)
      resolve({ code, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes })
    })
  })
}
