import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { escapeControlCharacters } from '../core/index.ts'
import { openRepo, type Repo } from '../repo/index.ts'
import type { CliIo } from './cli-io.ts'

/** What every command needs: output streams and how to find and open the repo. */
export interface CliContext {
  io: CliIo
  /**
   * Writes one line to stdout. Control characters and bidi overrides in it are escaped
   * (`\x1b`, `\u202e`): lines carry names from servers and DAGs, which must not drive the terminal.
   */
  print(line: string): void
  /** Writes a value as one line of JSON to stdout (control and bidi characters as `\uHHHH`). */
  printJson(value: unknown): void
  repoDir(): string
  /** Opens the repo for the duration of `fn` and always closes it, releasing the lock. */
  withRepo<T>(fn: (repo: Repo) => Promise<T>): Promise<T>
}

export function createCliContext(program: Command, io: CliIo): CliContext {
  const repoDir = (): string => {
    const fromFlag = program.opts<{ repo?: string }>().repo
    return resolve(fromFlag ?? io.env.PINFOLD_REPO ?? join(homedir(), '.pinfold'))
  }
  return {
    io,
    print: (line) => io.stdout.write(`${escapeControlCharacters(line)}\n`),
    printJson: (value) => io.stdout.write(`${escapeControlCharacters(JSON.stringify(value, jsonReplacer), { json: true })}\n`),
    repoDir,
    async withRepo(fn) {
      const repo = await openRepo(repoDir())
      try {
        return await fn(repo)
      } finally {
        await repo.close()
      }
    },
  }
}

/** CIDs print as strings, bigints as numbers, dates as ISO strings. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value)
  if (value !== null && typeof value === 'object' && 'multihash' in value && 'version' in value) return String(value)
  return value
}
