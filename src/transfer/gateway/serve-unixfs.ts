import { exporter } from 'ipfs-unixfs-exporter'
import type { CID } from 'multiformats/cid'
import { type ByteEntry, fileContent, ls, PinfoldError } from '../../core/index.ts'
import { toReadableStream } from './byte-stream.ts'
import { contentTypeForName, isActiveContentType, SNIFF_LENGTH, sniffContentType } from './content-type.ts'
import { LISTING_CSP, renderDirectoryListing } from './directory-listing.ts'
import { jsonError } from './error-response.ts'
import { evaluateRange } from './http-range.ts'
import { exporterStorage, mapExporterError, type ResolvedContentPath, resolveContentPath } from './resolve-content-path.ts'
import {
  commonHeaders,
  contentDisposition,
  deserializedDisposition,
  directoryListingEtag,
  fileEtag,
  ifNoneMatchMatches,
} from './response-headers.ts'
import { notModified, type ServeContext } from './serve-context.ts'

/** Content types of IPLD codecs served as-is by the path gateway (their block bytes). */
const CODEC_CONTENT_TYPES: ReadonlyMap<number, string> = new Map([
  [0x71, 'application/vnd.ipld.dag-cbor'],
  [0x0129, 'application/vnd.ipld.dag-json'],
  [0x0200, 'application/json'],
  [0x51, 'application/cbor'],
])

/**
 * Deserialized (path gateway) responses: a file's bytes with a content type and Range
 * support, a directory's `index.html` or a generated listing (after redirecting a
 * directory URL without trailing `/` to its `/` form), a symlink's target, or an IPLD
 * block with its codec's media type.
 */
export async function serveUnixfs(ctx: ServeContext): Promise<Response> {
  const { parsed, source, signal } = ctx
  const resolved = await resolveContentPath(source, parsed.cid, parsed.segments, { signal })
  const { entry } = resolved
  switch (entry.type) {
    case 'directory':
      return serveDirectory(ctx, resolved)
    case 'file':
      if (entry.unixfs.type === 'symlink') return serveSymlink(ctx, resolved, entry.unixfs.data ?? new Uint8Array())
      return serveFile(ctx, entry, resolved.roots, parsed.segments.at(-1))
    case 'raw':
    case 'identity':
      return serveFile(ctx, entry, resolved.roots, parsed.segments.at(-1))
    default:
      return serveCodecBlock(ctx, resolved)
  }
}

/**
 * A file: 200 with the whole content, 206 for one satisfiable `Range`, 416 otherwise.
 * `pathName` is the file's own name in the DAG (undefined for a bare CID).
 */
async function serveFile(ctx: ServeContext, entry: ByteEntry, roots: CID[], pathName: string | undefined): Promise<Response> {
  const etag = fileEtag(entry.cid)
  const headers = commonHeaders(ctx.parsed, roots)
  if (ifNoneMatchMatches(ctx.request.headers.get('if-none-match'), etag)) return notModified(headers, etag)
  const size = Number(entry.size)
  const contentType = fileContentType(pathName, ctx.parsed.filename) ?? sniffContentType(await readHead(ctx, entry))
  headers.set('Content-Type', contentType)
  headers.set('ETag', etag)
  headers.set('Accept-Ranges', 'bytes')
  const downloadName = ctx.parsed.filename ?? pathName ?? entry.cid.toString()
  const disposition =
    ctx.sandbox && isActiveContentType(contentType)
      ? contentDisposition('attachment', downloadName)
      : deserializedDisposition(ctx.parsed, downloadName)
  if (disposition !== undefined) headers.set('Content-Disposition', disposition)
  const range = evaluateRange(ctx.request.headers.get('range'), size)
  if (range.kind === 'unsatisfiable') {
    return new Response(null, { status: 416, headers: { 'Content-Range': `bytes */${size}`, 'Accept-Ranges': 'bytes' } })
  }
  const first = range.kind === 'partial' ? range.first : 0
  const length = range.kind === 'partial' ? range.last - range.first + 1 : size
  headers.set('Content-Length', String(length))
  if (range.kind === 'partial') headers.set('Content-Range', `bytes ${range.first}-${range.last}/${size}`)
  const status = range.kind === 'partial' ? 206 : 200
  if (ctx.head || length === 0) return new Response(ctx.head ? null : new Uint8Array(), { status, headers })
  const body = entryBytes(ctx, entry, first, length)
  return new Response(toReadableStream(body), { status, headers })
}

/**
 * The type the file's own name gives it; `?filename=` (a name the link's author chose)
 * may only pick a passive type, so it can name a download but never make bytes active.
 */
function fileContentType(pathName: string | undefined, filename: string | undefined): string | undefined {
  const byPath = pathName === undefined ? undefined : contentTypeForName(pathName)
  if (byPath !== undefined) return byPath
  const byFilename = filename === undefined ? undefined : contentTypeForName(filename)
  return byFilename === undefined || isActiveContentType(byFilename) ? undefined : byFilename
}

/** The file's bytes from `offset`, `length` of them, read by core's checking walker. */
function entryBytes(ctx: ServeContext, entry: ByteEntry, offset: number, length: number): AsyncGenerator<Uint8Array> {
  return fileContent(ctx.source, entry, { offset, length }, { signal: ctx.signal })
}

/** Up to {@link SNIFF_LENGTH} leading bytes of a file, for content sniffing. */
async function readHead(ctx: ServeContext, entry: ByteEntry): Promise<Uint8Array> {
  const length = Math.min(SNIFF_LENGTH, Number(entry.size))
  const head = new Uint8Array(length)
  let filled = 0
  for await (const chunk of entryBytes(ctx, entry, 0, length)) {
    head.set(chunk.subarray(0, length - filled), filled)
    filled += Math.min(chunk.byteLength, length - filled)
  }
  return head.subarray(0, filled)
}

/**
 * A directory: 301 to the trailing-slash URL (relative links and service-worker scopes
 * depend on it), then its `index.html` if present, else a generated HTML listing.
 */
async function serveDirectory(ctx: ServeContext, resolved: ResolvedContentPath): Promise<Response> {
  const { parsed } = ctx
  if (!parsed.trailingSlash) {
    // relative, so it also holds on a subdomain gateway, where the path has no /ipfs/{cid}
    const location = `./${parsed.url.pathname.split('/').at(-1)}/${parsed.url.search}`
    return new Response(null, { status: 301, headers: { Location: location, 'Cache-Control': 'public, max-age=29030400, immutable' } })
  }
  const index = await findIndexHtml(ctx, resolved.entry.cid)
  if (index !== undefined) return serveFile(ctx, index, resolved.roots, 'index.html')
  const etag = directoryListingEtag(resolved.entry.cid)
  const headers = commonHeaders(parsed, resolved.roots)
  if (ifNoneMatchMatches(ctx.request.headers.get('if-none-match'), etag)) return notModified(headers, etag)
  headers.set('Content-Type', 'text/html; charset=utf-8')
  headers.set('ETag', etag)
  headers.set('Content-Security-Policy', LISTING_CSP)
  if (ctx.head) return new Response(null, { status: 200, headers })
  const share = parsed.url.searchParams.get('share')
  const target = {
    contentPath: parsed.contentPath,
    cid: resolved.entry.cid,
    hasParent: parsed.segments.length > 0,
    // a share link's token rides along on the entries' links (the parent may be out of its scope)
    ...(share === null ? {} : { linkQuery: `?share=${encodeURIComponent(share)}` }),
  }
  const html = renderDirectoryListing(target, ls(ctx.source, resolved.entry.cid.toString(), { signal: ctx.signal }))
  return new Response(toReadableStream(encodeText(html)), { status: 200, headers })
}

/** The directory's `index.html` when it exists and is a file. */
async function findIndexHtml(ctx: ServeContext, directory: CID): Promise<ByteEntry | undefined> {
  try {
    const entry = await exporter(`${directory}/index.html`, exporterStorage(ctx.source), { signal: ctx.signal })
    if (entry.type === 'raw' || entry.type === 'identity') return entry
    return entry.type === 'file' && entry.unixfs.type !== 'symlink' ? entry : undefined
  } catch (err) {
    const mapped = mapExporterError(err, `${directory}/index.html`)
    if (mapped instanceof PinfoldError && mapped.code === 'ERR_PATH_NOT_FOUND') return undefined
    throw mapped
  }
}

/** A symlink is not followed (it may point anywhere): its target is returned as `inode/symlink`. */
function serveSymlink(ctx: ServeContext, resolved: ResolvedContentPath, target: Uint8Array): Response {
  const headers = commonHeaders(ctx.parsed, resolved.roots)
  headers.set('Content-Type', 'inode/symlink')
  headers.set('ETag', fileEtag(resolved.entry.cid))
  headers.set('Content-Length', String(target.byteLength))
  return new Response(ctx.head ? null : target, { status: 200, headers })
}

/** A non-UnixFS block: served as-is when its codec has a media type, else 501. */
async function serveCodecBlock(ctx: ServeContext, resolved: ResolvedContentPath): Promise<Response> {
  const { cid } = resolved.entry
  const contentType = CODEC_CONTENT_TYPES.get(cid.code)
  if (contentType === undefined) {
    return jsonError(501, 'ERR_UNSUPPORTED_CODEC', `cannot deserialize ${cid}; request ?format=raw or ?format=car`)
  }
  const etag = fileEtag(cid)
  const headers = commonHeaders(ctx.parsed, resolved.roots)
  if (ifNoneMatchMatches(ctx.request.headers.get('if-none-match'), etag)) return notModified(headers, etag)
  const bytes = await ctx.source.get(cid, { signal: ctx.signal })
  headers.set('Content-Type', contentType)
  headers.set('ETag', etag)
  headers.set('Content-Length', String(bytes.byteLength))
  return new Response(ctx.head ? null : bytes, { status: 200, headers })
}

async function* encodeText(chunks: AsyncIterable<string>): AsyncGenerator<Uint8Array> {
  const encoder = new TextEncoder()
  for await (const chunk of chunks) yield encoder.encode(chunk)
}
