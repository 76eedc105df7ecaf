import type { CID } from 'multiformats/cid'
import { parseCidPath, stat } from '../../core/index.ts'
import type { Principal } from '../auth/principal.ts'
import type { CoordinatorComponents } from '../components.ts'
import { cidForms } from '../files/cid-forms.ts'
import { type UploadLimits, uploadLimitsFor } from '../uploads/upload-limits.ts'
import { KuboRpcError } from './rpc-protocol.ts'

/** The registry reference kind of pins made through the Kubo RPC: one per (account, CID). */
export const RPC_PIN_KIND = 'rpc'

export type RpcComponents = Pick<
  CoordinatorComponents,
  'config' | 'logger' | 'registry' | 'repo' | 'content' | 'metrics' | 'uploads' | 'releaseContent' | 'cluster'
>

/**
 * Whether `principal` may read the DAG under `cid`, with the gateway's rule: with
 * `gateway.access = public` anyone authenticated, else admins and accounts referencing the
 * CID (any of its v0/v1 spellings). Another account's content behaves as absent.
 */
export async function canRead(c: RpcComponents, principal: Principal, cid: CID): Promise<boolean> {
  if (c.config.gateway.access === 'public') return true
  if (principal.role === 'admin' && principal.scopes.has('admin')) return true
  for (const form of cidForms(cid.toString())) {
    if (await c.registry.pins.getForAccount(principal.accountId, form)) return true
  }
  return false
}

/** Kubo's answer for content it cannot find, without waiting on a network it does not have. */
export function notFoundLocally(cid: CID | string): KuboRpcError {
  return new KuboRpcError(`block was not found locally (offline): ipld: could not find ${cid.toString()}`)
}

/**
 * Resolves a Kubo path argument (`CID`, `CID/a/b`, `/ipfs/CID/a/b`) to the CID it names,
 * checking the caller may read its root. Content the caller may not read is "not found".
 */
export async function resolveReadable(c: RpcComponents, principal: Principal, path: string): Promise<{ root: CID; cid: CID; path: string }> {
  if (path.startsWith('/ipns/')) throw new KuboRpcError('IPNS is not supported by Pinfold')
  const { cid: root, segments } = parseCidPath(path)
  if (!(await canRead(c, principal, root))) throw notFoundLocally(root)
  if (segments.length === 0) return { root, cid: root, path: root.toString() }
  const normalized = [root.toString(), ...segments].join('/')
  const entry = await stat(c.content, normalized)
  return { root, cid: entry.cid, path: normalized }
}

/**
 * The account's upload limits, its storage quota reduced by what it pins through the RPC
 * (those pins have no entries, so `entries.storedBytes` does not see them).
 */
export async function rpcLimits(c: RpcComponents, accountId: string): Promise<UploadLimits> {
  const limits = await uploadLimitsFor(c.registry, c.config.limits.maxUploadBytes, accountId)
  if (limits.storageBytes === Infinity) return limits
  return { ...limits, storageBytes: limits.storageBytes - (await c.registry.pins.bytesForAccount(accountId, RPC_PIN_KIND)) }
}

/**
 * Pins `cid` (its DAG complete in the origin repo) for the account: in the repo and as a
 * registry pin sized by the bytes the repo measured, never by what the DAG declares. The
 * registry reference is what makes a repo pin counted, removable and collectable, so a repo
 * pin whose registration fails is undone unless the registry pins the CID for someone else.
 * Idempotent; call inside `repo.runAdd` when the blocks were written by the same request.
 */
export async function pinForAccount(c: RpcComponents, accountId: string, cid: CID, name?: string): Promise<void> {
  await c.repo.runAdd(async () => {
    const size = await c.repo.dagBytes(cid)
    await c.repo.pins.add(cid, { recursive: true })
    try {
      await registerRpcPin(c, accountId, cid, size, name)
    } catch (error) {
      const registered = await Promise.all(cidForms(cid.toString()).map((form) => c.registry.pins.get(form)))
      if (registered.every((pin) => pin === undefined)) await c.repo.pins.rm(cid)
      throw error
    }
  })
}

/** Registers `cid` as a pin of the account (replicated as any pin); idempotent. */
async function registerRpcPin(c: RpcComponents, accountId: string, cid: CID, size: number, name?: string): Promise<void> {
  const options: { size: number; name?: string; replicationMin: number; replicationMax: number } = {
    size,
    replicationMin: c.config.cluster.defaultReplicationMin,
    replicationMax: c.config.cluster.defaultReplicationMax,
  }
  if (name !== undefined && name !== '') options.name = name.slice(0, 255)
  await c.registry.pins.addReference(cid.toString(), { kind: RPC_PIN_KIND, id: accountId, accountId }, options)
}
