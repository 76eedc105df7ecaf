import type { CID } from 'multiformats/cid'
import { verifyBlock } from '../../core/index.ts'
import { httpGet, SourceFailedError } from '../../transfer/fetch/index.ts'

/** Larger than any block an importer or `block/put` makes (2 MiB); a bigger answer is refused unread. */
const MAX_BLOCK_BYTES = 4 * 1024 * 1024

/**
 * One block from a storage node's trustless gateway (`?format=raw`, peer token), checked
 * against its CID before it is returned. Rejects on any status but 200, an oversized body,
 * or bytes that do not hash to `cid` (`ERR_BLOCK_HASH_MISMATCH`): a node can make a read
 * fail, never make it return wrong bytes.
 */
export async function fetchVerifiedBlock(url: string, cid: CID, token: string, signal: AbortSignal): Promise<Uint8Array> {
  const response = await httpGet(`${url}/ipfs/${cid.toString()}?format=raw`, { authorization: `Bearer ${token}`, accept: 'application/vnd.ipld.raw' }, signal)
  if (response.statusCode !== 200) {
    response.resume()
    throw new SourceFailedError(`${url} answered ${response.statusCode} for block ${cid}`)
  }
  const declared = Number(response.headers['content-length'] ?? 0)
  if (declared > MAX_BLOCK_BYTES) {
    response.destroy()
    throw new SourceFailedError(`${url} sent a ${declared}-byte block`)
  }
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of response as AsyncIterable<Buffer>) {
    total += chunk.byteLength
    if (total > MAX_BLOCK_BYTES) {
      response.destroy()
      throw new SourceFailedError(`${url} sent an oversized block`)
    }
    chunks.push(chunk)
  }
  const bytes = new Uint8Array(Buffer.concat(chunks, total))
  await verifyBlock(cid, bytes)
  return bytes
}
