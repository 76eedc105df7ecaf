import * as dagPb from '@ipld/dag-pb'
import type { FastifyRequest } from 'fastify'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { exportCar, importCar, parseCid, PinfoldError } from '../../core/index.ts'
import { DagIncompleteError } from '../../repo/index.ts'
import type { Principal } from '../auth/principal.ts'
import { checkIncoming, type UploadLimits } from '../uploads/upload-limits.ts'
import { canRead, notFoundLocally, pinForAccount, type RpcComponents } from './rpc-context.ts'
import { badArgument, KuboRpcError, multipartError, type RpcArgs } from './rpc-protocol.ts'
import { SentBlocks } from './sent-blocks.ts'

/** Kubo's default block size ceiling (1 MiB); `allow-big-block` lifts it to 2 MiB. */
const MAX_BLOCK_BYTES = 1024 * 1024
const MAX_BIG_BLOCK_BYTES = 2 * 1024 * 1024

/** A block argument the caller may read and the origin repo holds. */
async function readableBlock(c: RpcComponents, principal: Principal, arg: string): Promise<CID> {
  const cid = parseCid(arg.startsWith('/ipfs/') ? arg.slice('/ipfs/'.length) : arg)
  if (!(await canRead(c, principal, cid)) || !(await c.content.has(cid))) throw notFoundLocally(cid)
  return cid
}

/** `block/get`: the block's bytes. */
export async function blockGet(c: RpcComponents, principal: Principal, args: RpcArgs): Promise<Uint8Array> {
  const cid = await readableBlock(c, principal, args.arg('cid'))
  return c.content.get(cid)
}

/** `block/stat`: `{Key, Size}`. */
export async function blockStat(c: RpcComponents, principal: Principal, args: RpcArgs): Promise<{ Key: string; Size: number }> {
  const cid = await readableBlock(c, principal, args.arg('cid'))
  const size = (await c.content.size(cid)) ?? 0
  return { Key: cid.toString(), Size: size }
}

/** Codec names `block/put` accepts (`cid-codec`, or the deprecated `format`). */
const CODECS: Record<string, number> = { raw: raw.code, 'dag-pb': dagPb.code, protobuf: dagPb.code, v0: dagPb.code }

/**
 * `block/put`: each file part is one block, hashed with sha2-256 under `cid-codec` (default
 * raw; `format=v0` gives a CIDv0 dag-pb block), checked to decode, stored in the origin repo
 * and, with `pin=true`, pinned as a pin of the account. The origin repo indexes links of
 * raw and dag-pb blocks only, so other codecs are refused.
 */
export async function* blockPut(
  c: RpcComponents,
  principal: Principal,
  args: RpcArgs,
  request: FastifyRequest,
  limits: UploadLimits,
): AsyncGenerator<{ Key: string; Size: number }> {
  const format = args.string('format')
  const codecName = args.string('cid-codec') ?? (format === undefined || format === '' ? 'raw' : format)
  const code = CODECS[codecName]
  if (code === undefined) throw badArgument(`unsupported cid-codec ${codecName.slice(0, 50)}: Pinfold stores raw and dag-pb blocks`)
  const mhtype = args.string('mhtype') ?? 'sha2-256'
  if (mhtype !== 'sha2-256') throw badArgument(`unsupported mhtype ${mhtype.slice(0, 50)}: Pinfold uses sha2-256`)
  const v0 = format === 'v0' || (args.string('version') === '0' && code === dagPb.code)
  const pin = args.bool('pin', false)
  const maxBytes = args.bool('allow-big-block', false) ? MAX_BIG_BLOCK_BYTES : MAX_BLOCK_BYTES
  if (!request.isMultipart()) throw badArgument("file argument 'data' is required")
  let total = 0
  let count = 0
  const sent = new SentBlocks()
  const parts = request.parts()[Symbol.asyncIterator]()
  for (;;) {
    const next = await parts.next().catch((error: unknown) => Promise.reject(multipartError(error)))
    if (next.done) break
    const part = next.value
    if (part.type === 'field') continue
    const bytes = await readLimited(part.file, maxBytes).catch((error: unknown) => Promise.reject(multipartError(error)))
    total += bytes.byteLength
    checkIncoming(limits, total)
    const digest = await sha256.digest(bytes)
    const cid = v0 ? CID.createV0(digest as Parameters<typeof CID.createV0>[0]) : CID.createV1(code, digest)
    try {
      sent.record(cid, bytes)
    } catch (error) {
      throw new KuboRpcError(error instanceof Error ? error.message : String(error))
    }
    await c.repo.runAdd(async () => {
      await c.repo.blocks.put(cid, bytes)
      await c.repo.blocks.flush()
      if (!pin) return
      // a block linking to CIDs the caller neither sent nor holds must not pin them for it
      await sent.assertGrantable(cid, (linked) => canRead(c, principal, linked))
      await pinForAccount(c, principal.accountId, cid)
    })
    count++
    yield { Key: cid.toString(), Size: bytes.byteLength }
  }
  if (count === 0) throw badArgument("file argument 'data' is required")
  c.metrics.bytesIn.inc(total)
  await c.registry.usage.record(principal.accountId, 'upload_bytes', total)
}

async function readLimited(stream: AsyncIterable<Uint8Array>, max: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of stream) {
    size += chunk.byteLength
    if (size > max) throw new KuboRpcError(`produced block is over ${max === MAX_BLOCK_BYTES ? '1MiB' : '2MiB'}: big blocks can't be exchanged with other peers. consider using UnixFS for automatic chunking of bigger files, or pass --allow-big-block to override`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** `dag/export`: the DAG under the root as a CARv1 stream (root first, depth first). */
export async function dagExport(c: RpcComponents, principal: Principal, args: RpcArgs): Promise<AsyncIterable<Uint8Array>> {
  const cid = await readableBlock(c, principal, args.arg('root'))
  return exportCar(c.content, cid)
}

/**
 * Pins one imported root for the account (inside the import's add); the answer's
 * `PinErrorMsg`: "" when pinned, else why not — a root the caller does not hold counts as
 * incomplete unless every block under it came in this request or lies in a DAG it holds.
 */
async function pinImportedRoot(c: RpcComponents, principal: Principal, sent: SentBlocks, root: CID): Promise<string> {
  try {
    const holds = (cid: CID) => canRead(c, principal, cid)
    if (!(await holds(root))) await sent.assertGrantable(root, holds)
    await pinForAccount(c, principal.accountId, root)
    return ''
  } catch (error) {
    if (!(error instanceof PinfoldError && error.userError)) throw error
    // name the block that is missing (often a leaf), not the root the CAR did carry
    return error instanceof DagIncompleteError ? `${notFoundLocally(error.missing).message}: ${error.message}` : error.message
  }
}

export type DagImportOutput = { Root: { Cid: { '/': string }; PinErrorMsg: string } } | { Stats: { BlockCount: number; BlockBytesCount: number } }

/**
 * `dag/import`: every file part is a CAR (v1 or v2); each block is verified against its CID
 * before it is stored (a mismatch fails the command). Afterwards each root is pinned
 * (`pin-roots`, default true) in the repo and as a pin of the account, sized by the bytes
 * stored; a root whose DAG is incomplete reports `PinErrorMsg` instead, as Kubo does. A root
 * the caller does not hold already counts as incomplete unless every block under it came in
 * this request's CARs (or lies in a DAG the caller holds): a block stored for another account
 * is as absent as one nobody stores.
 */
export async function* dagImport(
  c: RpcComponents,
  principal: Principal,
  args: RpcArgs,
  request: FastifyRequest,
  limits: UploadLimits,
): AsyncGenerator<DagImportOutput> {
  const pinRoots = args.bool('pin-roots', true)
  const stats = args.bool('stats', false)
  if (!request.isMultipart()) throw badArgument("file argument 'path' is required")
  const roots = new Map<string, CID>()
  let blocks = 0
  let blockBytes = 0
  let total = 0
  let files = 0
  const sent = new SentBlocks()
  // one add: the imported blocks are pinned before GC may run (unpinned blocks are garbage)
  const pinned = await c.repo.runAdd(async () => {
    for await (const part of request.parts()) {
      if (part.type === 'field') continue
      files++
      const counted = async function* (): AsyncGenerator<Uint8Array> {
        for await (const chunk of part.file as AsyncIterable<Uint8Array>) {
          total += chunk.byteLength
          checkIncoming(limits, total)
          yield chunk
        }
      }
      const result = await importCar(counted(), sent.recording(c.repo.blocks), { maxBlockBytes: MAX_BIG_BLOCK_BYTES }).catch(
        (error: unknown) => Promise.reject(multipartError(error)),
      )
      blocks += result.blocks
      blockBytes += result.bytes
      for (const root of result.roots) roots.set(root.toString(), root)
    }
    if (files === 0) throw badArgument("file argument 'path' is required")
    const outcomes: { root: CID; message: string }[] = []
    if (pinRoots) for (const root of roots.values()) outcomes.push({ root, message: await pinImportedRoot(c, principal, sent, root) })
    return outcomes
  }).catch((error: unknown) => Promise.reject(multipartError(error)))
  c.metrics.bytesIn.inc(total)
  await c.registry.usage.record(principal.accountId, 'upload_bytes', total)
  for (const { root, message } of pinned) yield { Root: { Cid: { '/': root.toString() }, PinErrorMsg: message } }
  if (stats) yield { Stats: { BlockCount: blocks, BlockBytesCount: blockBytes } }
}
