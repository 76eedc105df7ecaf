import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'

/** What `pinfold login` remembers: the coordinator, the key (to renew tokens) and the token. */
export interface Session {
  url: string
  apiKey: string
  accessToken: string
  /** ms since the epoch */
  expiresAt: number
}

/** `$PINFOLD_CONFIG_DIR`, else `$XDG_CONFIG_HOME/pinfold`, else `~/.config/pinfold`. */
export function sessionFile(env: NodeJS.ProcessEnv): string {
  const dir = env.PINFOLD_CONFIG_DIR ?? join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'pinfold')
  return join(dir, 'session.json')
}

export async function readSession(env: NodeJS.ProcessEnv): Promise<Session | undefined> {
  const text = await readFile(sessionFile(env), 'utf8').catch(() => undefined)
  if (!text) return undefined
  try {
    return JSON.parse(text) as Session
  } catch {
    return undefined
  }
}

/** Written with mode 0600: the file holds a secret, as other CLIs' credential stores do. */
export async function writeSession(env: NodeJS.ProcessEnv, session: Session): Promise<void> {
  const file = sessionFile(env)
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  await writeFile(file, `${JSON.stringify(session, null, 2)}\n`, { mode: 0o600 })
}

export async function clearSession(env: NodeJS.ProcessEnv): Promise<void> {
  await rm(sessionFile(env), { force: true })
}
