// Writes the coordinator's OpenAPI document to web/openapi.json, from which the portal's
// typed client is generated (`npm --prefix web run gen:api`). Run with the root Node 24:
//   node scripts/export-openapi.ts [out.json]
// The coordinator is composed in-process from defaults and a throw-away data directory;
// it binds an ephemeral 127.0.0.1 port only for the moment the document is read.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pino } from 'pino'
import { loadCoordinatorConfig } from '../src/coordinator/config/load-config.ts'
import { startCoordinator } from '../src/coordinator/main.ts'

const out = resolve(process.argv[2] ?? new URL('../web/openapi.json', import.meta.url).pathname)
const dataDir = await mkdtemp(join(tmpdir(), 'pinfold-openapi-'))
try {
  const config = await loadCoordinatorConfig({ env: {}, flags: { dataDir, listen: '127.0.0.1:0', logLevel: 'silent' } })
  const running = await startCoordinator(config, { logger: pino({ level: 'silent' }) })
  try {
    const document = running.app.swagger()
    await writeFile(out, `${JSON.stringify(document, null, 2)}\n`)
    process.stdout.write(`wrote ${out} (${Object.keys((document as { paths?: object }).paths ?? {}).length} paths)\n`)
  } finally {
    await running.close()
  }
} finally {
  await rm(dataDir, { recursive: true, force: true })
}
