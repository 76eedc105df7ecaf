import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

// The portal's typed client is generated from web/openapi.json, committed so builds need no
// server. When a route changes, regenerate both files: `npm run openapi:export`.
it('web/openapi.json matches the coordinator’s OpenAPI document', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pinfold-openapi-check-'))
  try {
    const out = join(dir, 'openapi.json')
    await promisify(execFile)(process.execPath, [join(ROOT, 'scripts/export-openapi.ts'), out], { cwd: ROOT })
    const [current, committed] = await Promise.all([readFile(out, 'utf8'), readFile(join(ROOT, 'web/openapi.json'), 'utf8')])
    assert.ok(current === committed, 'web/openapi.json is stale: run `npm run openapi:export` and commit web/openapi.json and web/src/api/schema.d.ts')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
