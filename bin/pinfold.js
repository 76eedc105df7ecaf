#!/usr/bin/env node
// The CLI is TypeScript run through Node's type stripping, which needs Node ≥ 24.
// When started by an older system Node, hand over to the Node 24 that the `node`
// dependency brings, so `pinfold` works however it was invoked.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'

const major = Number(process.versions.node.split('.')[0])
if (major >= 24) {
  await import('../src/cli/main.ts')
} else {
  const require = createRequire(import.meta.url)
  const node24 = require.resolve('node/bin/node')
  const result = spawnSync(node24, [process.argv[1] ?? '', ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(result.status ?? 1)
}
