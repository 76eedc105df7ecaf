import { toReadableStream } from './byte-stream.ts'
import { encodeCar } from '../../core/index.ts'
import { type CarOptions, carContentType } from './car-options.ts'
import { resolveContentPath } from './resolve-content-path.ts'
import { carEtag, commonHeaders, contentDisposition, ifNoneMatchMatches } from './response-headers.ts'
import { type CarTarget, planScopedCar } from './scoped-car.ts'
import { notModified, type ServeContext } from './serve-context.ts'

/**
 * `application/vnd.ipld.car`: a CARv1 whose single root is the terminal CID of the path,
 * holding the blocks along the path, then the terminal entity's DAG in the requested
 * `dag-scope` / `entity-bytes`, depth-first, each block once (or every time with
 * `dups=y`). Status and headers are decided once the path and the terminal block were
 * read (404 if missing); the body then streams block by block, never buffered.
 */
export async function serveCar(ctx: ServeContext, car: CarOptions): Promise<Response> {
  const { parsed, source, signal } = ctx
  const etag = carEtag(parsed, car)
  if (ifNoneMatchMatches(ctx.request.headers.get('if-none-match'), etag)) {
    return notModified(commonHeaders(parsed, undefined), etag)
  }
  let target: CarTarget = { pathBlocks: [], terminal: parsed.cid }
  let roots = [parsed.cid]
  if (parsed.segments.length > 0) {
    // Non-UnixFS roots can only be walked without a path, so the exporter is used only here.
    const resolved = await resolveContentPath(source, parsed.cid, parsed.segments, { signal })
    target = { pathBlocks: resolved.pathBlocks, terminal: resolved.entry.cid }
    roots = resolved.roots
  }
  const blocks = await planScopedCar(source, target, car, { signal })
  const headers = commonHeaders(parsed, roots)
  headers.set('Content-Type', carContentType(car))
  headers.set('ETag', etag)
  headers.set('Content-Disposition', contentDisposition('attachment', parsed.filename ?? `${parsed.cid}.car`))
  headers.set('Accept-Ranges', 'none')
  if (ctx.head) {
    await blocks.return(undefined)
    return new Response(null, { status: 200, headers })
  }
  // the root named in the header is the terminal entity (as boxo): `ipfs-car unpack` yields the path's content
  return new Response(toReadableStream(encodeCar(target.terminal, blocks)), { status: 200, headers })
}
