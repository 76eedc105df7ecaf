import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { openRegistry } from '../../src/registry/index.ts'
import { registryConformance } from './registry-conformance.ts'

const dir = mkdtempSync(join(tmpdir(), 'pinfold-registry-'))
after(() => rmSync(dir, { recursive: true, force: true }))

registryConformance('sqlite (file)', { open: () => openRegistry(`sqlite:${join(dir, 'registry.db')}`) })
