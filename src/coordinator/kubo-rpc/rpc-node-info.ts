import { readFileSync } from 'node:fs'
import type { FastifyRequest } from 'fastify'
import { base58btc } from 'multiformats/bases/base58'
import type { RpcComponents } from './rpc-context.ts'

/** The repo format version Kubo reports; clients only display it. */
const KUBO_REPO_VERSION = '16'

let cachedVersion: string | undefined
/** Pinfold's version (package.json), as `x.y.z` like Kubo's. */
export function pinfoldVersion(): string {
  if (cachedVersion === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string }
      cachedVersion = pkg.version ?? '0.0.0'
    } catch {
      cachedVersion = '0.0.0'
    }
  }
  return cachedVersion
}

/** The libp2p PublicKey protobuf of an Ed25519 key: field 1 KeyType = 1 (Ed25519), field 2 Data. */
function publicKeyProtobuf(raw: Uint8Array): Uint8Array {
  return Uint8Array.from([0x08, 0x01, 0x12, raw.byteLength, ...raw])
}

/**
 * The coordinator's peer ID, derived from its Ed25519 key as libp2p derives one: the
 * identity multihash of the public key's protobuf, in base58btc (`12D3KooW…`).
 */
export function peerIdOf(publicKey: Uint8Array): string {
  const proto = publicKeyProtobuf(publicKey)
  return base58btc.baseEncode(Uint8Array.from([0x00, proto.byteLength, ...proto]))
}

/** `id`: who this coordinator is and where the RPC listens. */
export function idInfo(c: RpcComponents, request: FastifyRequest) {
  const publicKey = c.cluster.coordinatorKey.publicKey
  const id = peerIdOf(publicKey)
  const socket = request.socket
  const host = socket.localAddress?.replace(/^::ffff:/, '')
  const family = host?.includes(':') ? 'ip6' : 'ip4'
  const addresses = host && socket.localPort ? [`/${family}/${host}/tcp/${socket.localPort}/http/p2p/${id}`] : []
  return {
    ID: id,
    PublicKey: Buffer.from(publicKeyProtobuf(publicKey)).toString('base64'),
    Addresses: addresses,
    AgentVersion: `pinfold/${pinfoldVersion()}/`,
    Protocols: [],
  }
}

/** `version`: Kubo's shape; `Golang` names the runtime actually serving. */
export function versionInfo() {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch
  return {
    Version: pinfoldVersion(),
    Commit: '',
    Repo: KUBO_REPO_VERSION,
    System: `${arch}/${process.platform}`,
    Golang: `node${process.versions.node}`,
  }
}

/**
 * `repo/stat`: the origin repo (blocks, bytes, configured StorageMax). `RepoPath` names the
 * repo without revealing the server's filesystem layout to tenants.
 */
export async function repoStat(c: RpcComponents, sizeOnly: boolean) {
  const stat = await c.repo.stat()
  const base = { RepoSize: stat.bytes, StorageMax: stat.storageMax }
  if (sizeOnly) return base
  return { ...base, NumObjects: stat.blocks, RepoPath: 'pinfold:origin', Version: `fs-repo@${KUBO_REPO_VERSION}` }
}
