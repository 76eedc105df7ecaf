import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Registry } from '../registry/index.ts'
import { type CoordinatorKey, coordinatorKeyFromPem, newCoordinatorKeyPem } from './cluster/index.ts'

/** The secrets every coordinator replica on one registry must agree on. */
export interface CoordinatorSecrets {
  /** HMAC secret of access tokens. */
  tokenSecret: string
  /** Nodes join with it. `generated`: this start created it (show it once so nodes can join). */
  clusterSecret: { secret: string; generated: boolean }
  /** Signs peer tokens. */
  coordinatorKey: CoordinatorKey
}

interface SecretSpec {
  /** Row name in `coordinator_secrets`, and the file name in the data directory before it. */
  name: string
  configured: string | undefined
  /** Whether a value (from a data-dir file) is usable. */
  valid: (value: string) => boolean
  generate: () => string
}

/**
 * Each secret is the configured one, else the one in the registry (shared by all replicas),
 * else the one a single coordinator kept in its data directory before the registry held
 * them (moved into the registry), else a new random one — stored by whichever replica
 * starts first, inside one insert, so replicas starting together agree. Configured values
 * are never stored. With SQLite (one coordinator) the data-dir files are kept in step, so
 * tools that read them keep working.
 */
export async function resolveCoordinatorSecrets(
  registry: Registry,
  configured: { tokenSecret?: string; clusterSecret?: string },
  dataDir: string,
): Promise<CoordinatorSecrets> {
  const resolve = (spec: SecretSpec) => resolveSecret(registry, dataDir, spec)
  const token = await resolve({
    name: 'token-secret',
    configured: configured.tokenSecret,
    valid: (v) => v.length >= 32,
    generate: () => randomBytes(32).toString('base64url'),
  })
  const cluster = await resolve({
    name: 'cluster-secret',
    configured: configured.clusterSecret,
    valid: (v) => v.length >= 16,
    generate: () => randomBytes(24).toString('base64url'),
  })
  const key = await resolve({ name: 'coordinator-key.pem', configured: undefined, valid: isKeyPem, generate: newCoordinatorKeyPem })
  return {
    tokenSecret: token.value,
    clusterSecret: { secret: cluster.value, generated: cluster.generated },
    coordinatorKey: coordinatorKeyFromPem(key.value),
  }
}

async function resolveSecret(registry: Registry, dataDir: string, spec: SecretSpec): Promise<{ value: string; generated: boolean }> {
  if (spec.configured) return { value: spec.configured, generated: false }
  const file = join(dataDir, spec.name)
  const text = await readFile(file, 'utf8').catch(() => undefined)
  const fromFile = spec.name.endsWith('.pem') ? text : text?.trim()
  const legacy = fromFile !== undefined && spec.valid(fromFile) ? fromFile : undefined
  const stored = await registry.secrets.getOrCreate(spec.name, legacy ?? spec.generate())
  if (registry.dialect === 'sqlite' && stored.value !== legacy) {
    await writeFile(file, spec.name.endsWith('.pem') ? stored.value : `${stored.value}\n`, { mode: 0o600, flag: 'w' })
  }
  return { value: stored.value, generated: stored.created && legacy === undefined }
}

function isKeyPem(pem: string): boolean {
  try {
    coordinatorKeyFromPem(pem)
    return true
  } catch {
    return false
  }
}
