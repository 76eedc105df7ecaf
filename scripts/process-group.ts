import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const PINFOLD_BIN = fileURLToPath(new URL('../bin/pinfold.js', import.meta.url))

export interface Proc {
  name: string
  child: ChildProcess
  output(): string
  exited: Promise<number | null>
}

/** The `pinfold` processes a demo starts, stopped together (last started first). */
export class ProcessGroup {
  readonly procs: Proc[] = []
  readonly #say: (line: string) => void

  constructor(say: (line: string) => void) {
    this.#say = say
  }

  /** Starts `pinfold <args>` with its output collected. */
  run(name: string, args: string[], env: NodeJS.ProcessEnv): Proc {
    const child = spawn(process.execPath, [PINFOLD_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    const collect = (chunk: Buffer) => {
      output += chunk.toString()
    }
    child.stdout?.on('data', collect)
    child.stderr?.on('data', collect)
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const proc = { name, child, output: () => output, exited }
    this.procs.push(proc)
    return proc
  }

  /** SIGTERM every process still running, last started first, and wait (SIGKILL after 10 s). */
  async stopAll(): Promise<void> {
    for (const proc of [...this.procs].reverse()) {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) continue
      proc.child.kill('SIGTERM')
      const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000)
      const code = await proc.exited
      clearTimeout(timer)
      this.#say(`  stopped ${proc.name} (exit ${code ?? proc.child.signalCode})`)
    }
  }
}

/** Polls `fn` every 150 ms until it returns a value; fails if `proc` exits meanwhile. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, proc?: Proc): Promise<T> {
  for (;;) {
    if (proc && proc.child.exitCode !== null) throw new Error(`${proc.name} exited with ${proc.child.exitCode} while waiting for ${what}:\n${proc.output()}`)
    const value = await Promise.resolve(fn()).catch(() => undefined)
    if (value !== undefined) return value
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
}
