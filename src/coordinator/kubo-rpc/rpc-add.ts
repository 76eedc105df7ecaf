import { randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import * as dagPb from '@ipld/dag-pb'
import type { FastifyRequest } from 'fastify'
import type { CID } from 'multiformats/cid'
import {
  type AbortOptions,
  type BlockSink,
  type ImportCandidate,
  type ImportedEntry,
  type ImportOptions,
  importBytes,
  importEntries,
  PinfoldError,
} from '../../core/index.ts'
import type { Principal } from '../auth/principal.ts'
import { checkIncoming, type UploadLimits } from '../uploads/upload-limits.ts'
import { type RpcComponents, pinForAccount } from './rpc-context.ts'
import { badArgument, multipartError, type RpcArgs } from './rpc-protocol.ts'
import { Channel } from './rpc-stream.ts'

/** One line of `add`'s NDJSON answer: an entry added, or progress of a file. */
export type AddOutput = { Name: string; Hash: string; Size: string } | { Name: string; Bytes: number }

/** The options of `add` Pinfold honours (others are accepted and ignored, as harmless). */
interface AddOptions {
  layout: Pick<ImportOptions, 'cidVersion' | 'rawLeaves' | 'chunker'>
  pin: boolean
  /** `pin-name`: the name every pinned root gets (as `pin/add --name`). */
  pinName?: string
  wrap: boolean
  onlyHash: boolean
  progress: boolean
  quieter: boolean
}

function addOptions(args: RpcArgs): AddOptions {
  const layout: AddOptions['layout'] = {}
  const version = args.integer('cid-version')
  if (version !== undefined) {
    if (version !== 0 && version !== 1) throw badArgument(`unknown CID version ${version}`)
    layout.cidVersion = version
  }
  if (args.string('raw-leaves') !== undefined) layout.rawLeaves = args.bool('raw-leaves', false)
  const chunker = args.string('chunker')
  if (chunker !== undefined && chunker !== '') layout.chunker = chunker === 'default' ? 'size-262144' : chunker
  const hash = args.string('hash')
  if (hash !== undefined && hash !== 'sha2-256') throw badArgument(`unsupported hash function ${hash.slice(0, 50)}: Pinfold uses sha2-256`)
  if (args.bool('trickle', false)) throw badArgument('the trickle layout is not supported by Pinfold')
  if (args.bool('inline', false)) throw badArgument('inline CIDs are not supported by Pinfold')
  if (args.bool('nocopy', false)) throw badArgument('the filestore (nocopy) is not supported by Pinfold')
  if (args.string('to-files') !== undefined) throw badArgument('to-files is not supported by Pinfold: use the files API')
  const pinName = args.string('pin-name')
  return {
    layout,
    pin: args.bool('pin', true),
    ...(pinName === undefined || pinName === '' ? {} : { pinName }),
    wrap: args.bool('wrap-with-directory', false),
    onlyHash: args.bool('only-hash', false),
    progress: args.bool('progress', false),
    quieter: args.bool('quieter', false),
  }
}

/** A part of the request: a directory, or a file spooled to `diskPath`. */
interface ReceivedPart {
  path: string
  diskPath?: string
  bytes: number
}

/** What `add` received, on disk until `discard`. */
export interface ReceivedAdd {
  parts: ReceivedPart[]
  bytes: number
  discard(): Promise<void>
}

/**
 * Receives `add`'s multipart body as kubo-rpc-client and the `ipfs` CLI send it: one part
 * per file (`Content-Disposition` filename = its URL-encoded relative path, empty for a
 * nameless buffer) or directory (`Content-Type: application/x-directory`). File parts are
 * spooled to disk, counted against the limits as they arrive (413/507 at the first byte
 * over), so the import can read them at its own pace.
 */
export async function receiveAdd(request: FastifyRequest, spoolRoot: string, limits: UploadLimits): Promise<ReceivedAdd> {
  const dir = join(spoolRoot, `rpc-${randomUUID()}`)
  await mkdir(dir, { recursive: true })
  const discard = () => rm(dir, { recursive: true, force: true })
  const parts: ReceivedPart[] = []
  let total = 0
  try {
    if (!request.isMultipart()) throw badArgument('file argument \'path\' is required')
    for await (const part of request.parts()) {
      if (part.type === 'field') continue
      const path = partPath(part.filename)
      if (part.mimetype === 'application/x-directory') {
        part.file.resume()
        if (path === '') throw badArgument('a directory part needs a name')
        parts.push({ path, bytes: 0 })
        continue
      }
      if (part.mimetype === 'application/symlink') throw badArgument('symlinks are not supported by Pinfold')
      const diskPath = join(dir, String(parts.length))
      const bytes = await spool(part.file, diskPath, (n) => {
        total += n
        checkIncoming(limits, total)
      })
      parts.push({ path, diskPath, bytes })
    }
    if (parts.length === 0) throw badArgument("file argument 'path' is required")
  } catch (error) {
    await discard()
    throw multipartError(error)
  }
  return { parts, bytes: total, discard }
}

/** The relative path a part names: URL-decoded, leading `/` and `./` stripped (as Kubo). */
function partPath(filename: string | undefined): string {
  let path = filename ?? ''
  try {
    path = decodeURIComponent(path)
  } catch {
    // a raw (not URL-encoded) name, as curl -F sends it
  }
  return path.replace(/^(\.?\/)+/, '').replace(/\/+$/, '')
}

async function spool(source: NodeJS.ReadableStream, path: string, onBytes: (n: number) => void): Promise<number> {
  let bytes = 0
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      try {
        onBytes(chunk.length)
        bytes += chunk.length
        callback(null, chunk)
      } catch (error) {
        callback(error as Error)
      }
    },
  })
  await pipeline(source, counter, createWriteStream(path, { flags: 'wx' }))
  return bytes
}

/**
 * Records each block's cumulative DAG size (Kubo's `Size` in `add` answers is the node's
 * Tsize: its bytes plus its links' Tsizes) and forwards to `inner` — or discards the block
 * for `only-hash`. Only dag-pb blocks are recorded: a raw block's Tsize is its length.
 */
class MeasuringSink implements BlockSink {
  readonly #tsizes = new Map<string, number>()
  readonly #inner: BlockSink | undefined

  constructor(inner?: BlockSink) {
    this.#inner = inner
  }

  async put(cid: CID, bytes: Uint8Array, options?: AbortOptions): Promise<void> {
    if (cid.code === dagPb.code) {
      const node = dagPb.decode(bytes)
      this.#tsizes.set(cid.toString(), node.Links.reduce((sum, link) => sum + (link.Tsize ?? 0), bytes.byteLength))
    }
    await this.#inner?.put(cid, bytes, options)
  }

  async flush(options?: AbortOptions): Promise<void> {
    await this.#inner?.flush(options)
  }

  tsize(entry: ImportedEntry): number {
    return this.#tsizes.get(entry.cid.toString()) ?? Number(entry.size)
  }
}

/**
 * Imports what `receiveAdd` received — into the origin repo, or nowhere with `only-hash` —
 * and yields `add`'s answer lines: progress (with `progress`), every nested entry as it is
 * built, then the top-level entries once they are pinned in the repo and registered as pins
 * of the account (with `pin`, the default). CIDs equal `pinfold add` / `ipfs add` of the
 * same tree with the same options. Always discards the spooled files.
 */
export async function* runAdd(c: RpcComponents, principal: Principal, args: RpcArgs, received: ReceivedAdd): AsyncGenerator<AddOutput> {
  const options = addOptions(args)
  const output = new Channel<AddOutput>()
  const sink = new MeasuringSink(options.onlyHash ? undefined : c.repo.blocks)
  const importing = (async () => {
    const roots = options.onlyHash
      ? await importAll(received, sink, options, output)
      : await c.repo.runAdd(() => importAndPin(c, principal.accountId, received, sink, options, output))
    if (!options.onlyHash) {
      c.metrics.bytesIn.inc(received.bytes)
      await c.registry.usage.record(principal.accountId, 'upload_bytes', received.bytes)
    }
    const shown = options.quieter ? roots.slice(-1) : roots
    for (const root of shown) output.push(entryLine(root, sink))
  })()
  importing.then(
    () => output.close(),
    (error: unknown) => output.close(error),
  )
  try {
    yield* output
  } finally {
    await importing.catch(() => undefined)
    await received.discard().catch(() => undefined)
  }
}

async function importAndPin(
  c: RpcComponents,
  accountId: string,
  received: ReceivedAdd,
  sink: MeasuringSink,
  options: AddOptions,
  output: Channel<AddOutput>,
): Promise<ImportedEntry[]> {
  const roots = await importAll(received, sink, options, output)
  if (options.pin) for (const root of roots) await pinForAccount(c, accountId, root.cid, options.pinName)
  return roots
}

/** Nested entries go to `output` at once; top-level entries are returned, in order. */
async function importAll(received: ReceivedAdd, sink: MeasuringSink, options: AddOptions, output: Channel<AddOutput>): Promise<ImportedEntry[]> {
  const nameless = received.parts.filter((part) => part.path === '')
  const named = received.parts.filter((part) => part.path !== '')
  if (options.wrap && nameless.length > 0) throw badArgument('wrap-with-directory needs every file part to have a name')
  const importOptions: ImportOptions = { ...options.layout, wrapWithDirectory: options.wrap }
  if (options.progress) {
    importOptions.onProgress = (event) => output.push({ Name: event.detail.path, Bytes: event.detail.bytes })
  }
  const roots: ImportedEntry[] = []
  for (const part of nameless) {
    const entry = await importBytes(readFile(part), sink, importOptions)
    // Kubo names a nameless file by its CID
    roots.push({ ...entry, path: entry.cid.toString() })
  }
  if (named.length === 0) return roots
  const candidates = named.map((part): ImportCandidate => (part.diskPath === undefined ? { path: part.path } : { path: part.path, content: readFile(part) }))
  for await (const entry of importEntries(candidates, sink, importOptions)) {
    const topLevel = options.wrap ? entry.path === '' : !entry.path.includes('/')
    if (topLevel) roots.push(entry)
    else output.push(entryLine(entry, sink))
  }
  if (roots.length === 0) throw new PinfoldError('ERR_IMPORT_FAILED', 'importer produced no root')
  return roots
}

function entryLine(entry: ImportedEntry, sink: MeasuringSink): AddOutput {
  return { Name: entry.path, Hash: entry.cid.toString(), Size: String(sink.tsize(entry)) }
}

async function* readFile(part: ReceivedPart): AsyncGenerator<Uint8Array> {
  if (part.diskPath === undefined) return
  for await (const chunk of createReadStream(part.diskPath, { highWaterMark: 256 * 1024 })) yield chunk as Buffer
}
