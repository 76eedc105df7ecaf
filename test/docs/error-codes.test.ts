import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { it } from 'node:test'

const ROOT = new URL('../../', import.meta.url).pathname
/** Codes of third-party libraries that src/ only matches on to translate them. */
const FOREIGN_CODES = new Set(['ERR_BAD_PATH', 'ERR_NOT_UNIXFS', 'ERR_NO_RESOLVER', 'ERR_INVALID_PARAMS'])

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true })
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => join(e.parentPath, e.name))
}

it('documents every error code the code base can report', async () => {
  const documented = new Set((await readFile(join(ROOT, 'docs/errors.md'), 'utf8')).match(/ERR_[A-Z0-9_]+/g))
  const used = new Set<string>()
  for (const file of await sourceFiles(join(ROOT, 'src'))) {
    for (const match of (await readFile(file, 'utf8')).matchAll(/'(ERR_[A-Z0-9_]+)'/g)) used.add(match[1] ?? '')
  }
  const missing = [...used].filter((code) => !documented.has(code) && !FOREIGN_CODES.has(code)).sort()
  assert.deepEqual(missing, [], `add these codes to docs/errors.md: ${missing.join(', ')}`)
})
