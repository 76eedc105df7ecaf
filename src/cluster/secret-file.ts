import { readFileSync } from 'node:fs'
import { InvalidOptionError } from '../core/index.ts'

/**
 * A secret kept in a file (`--secret-file`, `cluster.secretFile`, `auth.tokenSecretFile`),
 * so it shows neither in `ps` nor in the process environment: the file's content without
 * its trailing newline. A missing, unreadable or too short file is a user error naming it.
 */
export function readSecretFile(path: string, what: string, minLength: number): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new InvalidOptionError(`cannot read ${what} from ${path}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`)
  }
  const secret = text.replace(/\r?\n$/, '')
  if (secret.length < minLength) throw new InvalidOptionError(`${what} in ${path} must be at least ${minLength} characters`)
  return secret
}
