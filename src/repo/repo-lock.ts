import { link, readFile, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { RepoLockedError } from './errors.ts'

/** True when a process with this pid exists (EPERM: exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * `<repo>/repo.lock`: holds the pid of the one process that has the repo open.
 *
 * Created atomically with content (temp file + `link`), so it is never seen empty. A lock
 * whose pid is not alive (after SIGKILL, power loss) is stale and taken over; a live one —
 * including our own pid, i.e. a second open in the same process — throws `ERR_REPO_LOCKED`.
 */
export class RepoLock {
  readonly file: string
  #held = true

  private constructor(file: string) {
    this.file = file
  }

  static async acquire(repoDir: string): Promise<RepoLock> {
    const file = join(repoDir, 'repo.lock')
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`
    await writeFile(tmp, `${process.pid}\n`)
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await link(tmp, file)
          return new RepoLock(file)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw err
        }
        const pid = await readPid(file)
        if (pid !== undefined && processAlive(pid)) throw new RepoLockedError(repoDir, pid)
        // Stale: the holder died. Remove and retry (another opener may win the race; then we see it live).
        await unlink(file).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err
        })
      }
    } finally {
      await unlink(tmp).catch(() => {})
    }
  }

  /** Removes the lock file if it still holds our pid. Idempotent. */
  async release(): Promise<void> {
    if (!this.#held) return
    this.#held = false
    if ((await readPid(this.file)) === process.pid) await unlink(this.file).catch(() => {})
  }
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(file, 'utf8')).trim(), 10)
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}
