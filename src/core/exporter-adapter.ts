import type { ReadableStorage } from 'ipfs-unixfs-exporter'
import type { CID } from 'multiformats/cid'
import type { BlockSource } from './blockstore.ts'
import { PathNotFoundError, PinfoldError } from './errors.ts'
import { withIdentity } from './identity.ts'
import type { AbortOptions } from './options.ts'

/**
 * Presents a {@link BlockSource} the way ipfs-unixfs-exporter v16 reads blocks
 * (interface-blockstore v7: `get` yields the block as a stream of chunks), with identity
 * CIDs answered inline. Our source's `BlockNotFoundError` passes through unchanged.
 */
export function toExporterStorage(source: BlockSource): ReadableStorage {
  const store = withIdentity(source)
  return {
    get(cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
      return (async function* () {
        yield await store.get(cid, options)
      })()
    },
  } as ReadableStorage
}

/**
 * Maps the exporter's own errors to Pinfold errors with stable codes; anything else
 * (our own errors, aborts) passes through.
 */
export function mapExporterError(err: unknown, path: string): unknown {
  if (err instanceof PinfoldError) return err
  const code = (err as { code?: unknown } | null)?.code
  if (code === 'ERR_NOT_FOUND') return new PathNotFoundError(path)
  if (code === 'ERR_NO_RESOLVER') {
    return new PinfoldError('ERR_UNSUPPORTED_CODEC', `unsupported codec under ${path}`, { cause: err, userError: true })
  }
  if (code === 'ERR_NOT_UNIXFS' || code === 'ERR_INVALID_PARAMS' || code === 'ERR_BAD_PATH') {
    return new PinfoldError('ERR_INVALID_DAG', `cannot read ${path}: ${(err as Error).message}`, {
      cause: err,
      userError: true,
    })
  }
  return err
}
