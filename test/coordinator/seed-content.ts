import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { importBytes, importEntries } from '../../src/core/index.ts'
import { loadCoordinatorConfig } from '../../src/coordinator/config/load-config.ts'
import { type RunningCoordinator, startCoordinator } from '../../src/coordinator/main.ts'
import type { Entry } from '../../src/registry/index.ts'

/** An in-process coordinator on 127.0.0.1 with a fresh data dir, and a way to tear it down. */
export interface TestCoordinator {
  running: RunningCoordinator
  url: string
  close(): Promise<void>
}

export async function startTestCoordinator(env: NodeJS.ProcessEnv = {}): Promise<TestCoordinator> {
  const dir = await mkdtemp(join(tmpdir(), 'pinfold-files-'))
  const config = await loadCoordinatorConfig({
    flags: { dataDir: dir, listen: '127.0.0.1:0' },
    env: { PINFOLD_LOG_LEVEL: 'silent', ...env },
  })
  const running = await startCoordinator(config)
  return {
    running,
    url: running.url,
    async close() {
      await running.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** A user account with a read/write API key, and an access token for it. */
export interface TestAccount {
  id: string
  token: string
}

export async function createTestAccount(coordinator: TestCoordinator, email: string): Promise<TestAccount> {
  const { registry } = coordinator.running.components
  const account = await registry.accounts.create({ email })
  const { secret } = await registry.apiKeys.create(account.id, { scopes: ['read', 'write'] })
  const response = await fetch(`${coordinator.url}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ apiKey: secret }),
  })
  assert.equal(response.status, 200, await response.clone().text())
  const { accessToken } = (await response.json()) as { accessToken: string }
  return { id: account.id, token: accessToken }
}

const encoder = new TextEncoder()
const bytesOf = (content: string | Uint8Array) => (typeof content === 'string' ? encoder.encode(content) : content)

/**
 * Adds a file at `dirPath/name` the way an upload would: import into the origin repo and
 * pin it there (under the repo's add lock, so GC cannot interleave), then register it.
 */
export async function seedFile(
  coordinator: TestCoordinator,
  accountId: string,
  dirPath: string,
  name: string,
  content: string | Uint8Array,
  options: { mtime?: number; createParents?: boolean } = {},
): Promise<Entry> {
  const { repo, registry } = coordinator.running.components
  const imported = await repo.runAdd(async () => {
    const entry = await importBytes(bytesOf(content), repo.blocks)
    await repo.pins.add(entry.cid)
    return entry
  })
  return registry.entries.addFile(accountId, dirPath, {
    name,
    cid: imported.cid.toString(),
    size: Number(imported.size),
    mtime: options.mtime,
    createParents: options.createParents ?? true,
  })
}

/** Adds a folder (one immutable UnixFS directory) built from relative paths → contents. */
export async function seedFolder(
  coordinator: TestCoordinator,
  accountId: string,
  dirPath: string,
  name: string,
  files: Record<string, string | Uint8Array>,
): Promise<Entry> {
  const { repo, registry } = coordinator.running.components
  const root = await repo.runAdd(async () => {
    const candidates = Object.entries(files).map(([path, content]) => ({ path: `${name}/${path}`, content: bytesOf(content) }))
    let top: { cid: { toString(): string }; size: bigint } | undefined
    for await (const entry of importEntries(candidates, repo.blocks)) if (entry.path === name) top = entry
    assert.ok(top, 'the importer reports the folder root')
    await repo.pins.add(top.cid as Parameters<typeof repo.pins.add>[0])
    return top
  })
  return registry.entries.addFolder(accountId, dirPath, {
    name,
    cid: root.cid.toString(),
    size: Number(root.size),
    createParents: true,
  })
}

/** An access token for the admin account created at the coordinator's first start. */
export async function adminTokenOf(running: RunningCoordinator): Promise<string> {
  const admin = running.adminCredentials
  if (!admin) throw new Error('no first-start admin credentials')
  const response = await fetch(`${running.url}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: admin.email, password: admin.password }),
  })
  return ((await response.json()) as { accessToken: string }).accessToken
}
