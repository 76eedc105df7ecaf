import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { cat, type DagEntry, ls, stat } from '../../core/index.ts'
import type { Principal } from '../auth/principal.ts'
import { dagTarItems, type TarItem, tarArchive } from '../files/tar-stream-export.ts'
import { type RpcComponents, resolveReadable } from './rpc-context.ts'
import { badArgument, type RpcArgs } from './rpc-protocol.ts'

/** `cat`: a file's bytes, from `offset`, at most `length` bytes. */
export async function catCommand(c: RpcComponents, principal: Principal, args: RpcArgs, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
  const { path } = await resolveReadable(c, principal, args.arg('ipfs-path'))
  const options: { offset?: number; length?: number; signal: AbortSignal } = { signal }
  const offset = args.integer('offset')
  const length = args.integer('length')
  if (offset !== undefined) options.offset = offset
  if (length !== undefined) options.length = length
  return cat(c.content, path, options)
}

/**
 * `get`: a tar archive as Kubo's, named by the last path segment (the CID for a bare CID):
 * one file member, or the directory and everything under it. Unsafe names in a hostile
 * DAG and symlinks are left out (CVE-2020-26279). `compress` is not supported.
 */
export async function getCommand(c: RpcComponents, principal: Principal, args: RpcArgs, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
  if (args.bool('compress', false)) throw badArgument('compress is not supported by Pinfold: fetch the tar and compress it locally')
  const resolved = await resolveReadable(c, principal, args.arg('ipfs-path'))
  const entry = await stat(c.content, resolved.path, { signal })
  const name = resolved.path.split('/').at(-1) ?? resolved.cid.toString()
  let items: AsyncIterable<TarItem>
  if (entry.type === 'directory') {
    items = dagTarItems(c.content, resolved.path, name, { signal, logger: c.logger })
  } else if (entry.type === 'file' || entry.type === 'raw' || entry.type === 'identity') {
    items = (async function* () {
      yield { path: name, type: 'file', size: Number(entry.size), mtime: entry.mtime, content: () => cat(c.content, resolved.path, { signal }) }
    })()
  } else {
    throw badArgument(`${resolved.path} is neither a file nor a directory`)
  }
  return tarArchive(items)
}

/** Kubo's UnixFS type numbers in `ls`: 1 directory, 2 file, 4 symlink (raw leaves are files). */
function kuboType(entry: DagEntry): number {
  if (entry.type === 'directory') return 1
  if (entry.type === 'symlink') return 4
  if (entry.type === 'object') return 0
  return 2
}

interface LsLink {
  Name: string
  Hash: string
  Size: number
  Type: number
  Target: string
}

/**
 * `ls`: the links of each directory argument; a file argument lists its chunks (none for a
 * one-block file), as Kubo. Sizes are file sizes; directories have 0. With `stream`, one NDJSON line
 * per link; else one object for all arguments — written out link by link, so a huge
 * directory's answer is never held in memory (the text is what `JSON.stringify` gives).
 */
export async function* lsCommand(c: RpcComponents, principal: Principal, args: RpcArgs, signal: AbortSignal): AsyncGenerator<string> {
  const paths = args.argList('ipfs-path')
  const streaming = args.bool('stream', false)
  if (!streaming) yield '{"Objects":['
  for (const [index, arg] of paths.entries()) {
    const { path } = await resolveReadable(c, principal, arg)
    const entry = await stat(c.content, path, { signal })
    const hash = JSON.stringify(arg)
    if (!streaming) yield `${index > 0 ? ',' : ''}{"Hash":${hash},"Links":[`
    let first = true
    if (entry.type === 'directory') {
      for await (const child of ls(c.content, path, { signal })) {
        const link = JSON.stringify(lsLink(child))
        yield streaming ? `{"Objects":[{"Hash":${hash},"Links":[${link}]}]}\n` : `${first ? '' : ','}${link}`
        first = false
      }
    } else {
      // a multi-chunk file lists its chunks, as Kubo (nameless links, sizes from the file's blockSizes)
      for (const link of await fileChunkLinks(c, entry)) {
        const text = JSON.stringify(link)
        yield streaming ? `{"Objects":[{"Hash":${hash},"Links":[${text}]}]}\n` : `${first ? '' : ','}${text}`
        first = false
      }
      if (streaming && first) yield `{"Objects":[{"Hash":${hash},"Links":[]}]}\n`
    }
    if (!streaming) yield ']}'
  }
  if (!streaming) yield ']}\n'
}

/** The chunk links of a dag-pb UnixFS file (none for raw blocks and one-block files). */
async function fileChunkLinks(c: RpcComponents, entry: DagEntry): Promise<LsLink[]> {
  if (entry.type !== 'file' || entry.cid.code !== dagPb.code) return []
  const node = dagPb.decode(await c.repo.blocks.get(entry.cid))
  const sizes = node.Data === undefined ? [] : UnixFS.unmarshal(node.Data).blockSizes
  return node.Links.map((link, i) => ({ Name: link.Name ?? '', Hash: link.Hash.toString(), Size: Number(sizes[i] ?? 0), Type: 2, Target: '' }))
}

function lsLink(child: DagEntry): LsLink {
  const type = kuboType(child)
  return { Name: child.name, Hash: child.cid.toString(), Size: type === 1 ? 0 : Number(child.size), Type: type, Target: '' }
}
