import { withIdentity } from '../../core/index.ts'
import { RAW_MEDIA_TYPE } from './parse-gateway-request.ts'
import { resolveContentPath } from './resolve-content-path.ts'
import { commonHeaders, contentDisposition, ifNoneMatchMatches, rawEtag } from './response-headers.ts'
import { notModified, type ServeContext } from './serve-context.ts'

/**
 * `application/vnd.ipld.raw`: the single block named by the CID (or, as a Kubo-compatible
 * extension, the block at the end of a UnixFS path). 404 when it is not held.
 * A block is small and must be checked whole by the client, so it is sent in one piece
 * with its `Content-Length`.
 */
export async function serveRaw(ctx: ServeContext): Promise<Response> {
  const { parsed, source, signal } = ctx
  let target = parsed.cid
  let roots = [parsed.cid]
  if (parsed.segments.length > 0) {
    const resolved = await resolveContentPath(source, parsed.cid, parsed.segments, { signal })
    target = resolved.entry.cid
    roots = resolved.roots
  }
  const etag = rawEtag(target)
  const headers = commonHeaders(parsed, roots)
  if (ifNoneMatchMatches(ctx.request.headers.get('if-none-match'), etag)) return notModified(headers, etag)
  const bytes = await withIdentity(source).get(target, { signal })
  headers.set('Content-Type', RAW_MEDIA_TYPE)
  headers.set('Content-Length', String(bytes.byteLength))
  headers.set('ETag', etag)
  headers.set('Content-Disposition', contentDisposition('attachment', parsed.filename ?? `${target}.bin`))
  return new Response(ctx.head ? null : bytes, { status: 200, headers })
}
