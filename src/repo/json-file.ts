import { open, readFile, rename, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { InvalidRepoConfigError } from './errors.ts'

/** Opens a directory and fsyncs it, so renames and creations inside it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Writes JSON atomically and durably: temp file, fsync, rename over `file`, fsync the directory.
 * Readers see either the old or the new content, never a mix.
 */
export async function writeJsonFile(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`
  const handle = await open(tmp, 'w')
  try {
    await handle.writeFile(`${JSON.stringify(value, null, 2)}\n`)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(tmp, file)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
  await fsyncDir(dirname(file))
}

/** Reads JSON; `undefined` when the file does not exist. */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new InvalidRepoConfigError(file, 'not valid JSON', err)
  }
}
