import { randomBytes, randomInt } from 'node:crypto'
import type { CID } from 'multiformats/cid'
import type { Logger } from 'pino'
import { MAX_PROOF_BLOCKS, STORAGE_PROOF_PATH, storageProofDigest } from '../../cluster/index.ts'
import { type BlockSource, blockLinks } from '../../core/index.ts'
import { httpGet } from '../../transfer/fetch/index.ts'
import type { CoordinatorMetrics } from '../metrics/coordinator-metrics.ts'

export type ProofOutcome =
  /** every sampled block answered right: the copy counts */
  | { outcome: 'passed' }
  /** a wrong or missing answer: the node does not hold what it reported */
  | { outcome: 'failed'; reason: string }
  /** no answer at all (down, timeout): says nothing either way; the copy does not count now */
  | { outcome: 'unreachable'; reason: string }

/**
 * Challenges storage nodes to prove they hold a DAG. Safe to call concurrently; every call
 * uses a fresh nonce and a fresh random sample.
 */
export interface StorageProver {
  /** Asks the node at `url` for `sha256(nonce ‖ bytes)` of the root and a few random blocks of `root`'s DAG. */
  challenge(url: string, root: CID): Promise<ProofOutcome>
}

export interface StorageProverOptions {
  /**
   * Where the expected answers come from: the staged copy while the origin repo holds it,
   * else verified blocks from the DAG's holders (the content source). The bytes are checked
   * against their CIDs, so the answer is right whoever delivered them.
   */
  blocks: BlockSource
  peerToken(url: string): Promise<string | undefined>
  metrics: Pick<CoordinatorMetrics, 'storageProofs'>
  logger: Logger
  /** Random root-to-leaf descents per challenge, each adding its leaf (default 3). */
  descents?: number
  timeoutMs?: number
}

/** A DAG deeper than this is sampled from its top levels only. */
const MAX_DEPTH = 64

/**
 * Samples blocks by random descents from the root (a random link at each level down to a
 * leaf), so each challenge names the root, some interior blocks and a few leaves chosen
 * afresh. The node answers over its peer-token route (`STORAGE_PROOF_PATH`); one wrong
 * digest fails the challenge.
 */
export function createStorageProver(options: StorageProverOptions): StorageProver {
  const { blocks, metrics, logger } = options
  const descents = options.descents ?? 3
  const timeoutMs = options.timeoutMs ?? 30_000

  async function sample(root: CID, signal: AbortSignal): Promise<Map<string, Uint8Array>> {
    const picked = new Map<string, Uint8Array>()
    for (let d = 0; d < descents && picked.size < MAX_PROOF_BLOCKS; d++) {
      let cid = root
      for (let depth = 0; depth < MAX_DEPTH; depth++) {
        const bytes = picked.get(cid.toString()) ?? (await blocks.get(cid, { signal }))
        const links = blockLinks(cid, bytes)
        // the root always; below it only the leaf a descent ends at (interior blocks are implied by it)
        if (depth === 0 || links.length === 0) picked.set(cid.toString(), bytes)
        if (links.length === 0) break
        cid = links[randomInt(links.length)] as CID
      }
    }
    return picked
  }

  async function ask(url: string, nonce: Buffer, cids: string[], signal: AbortSignal): Promise<unknown> {
    const query = new URLSearchParams({ nonce: nonce.toString('hex') })
    for (const cid of cids) query.append('cid', cid)
    const token = await options.peerToken(url)
    if (token === undefined) throw new Error(`no storage node answers at ${url}`)
    const response = await httpGet(`${url}${STORAGE_PROOF_PATH}?${query}`, { authorization: `Bearer ${token}` }, signal)
    const chunks: Buffer[] = []
    for await (const chunk of response as AsyncIterable<Buffer>) chunks.push(chunk)
    // a refusal (token not yet accepted, draining, overloaded) proves nothing either way:
    // only digests the node sends can fail it
    if (response.statusCode !== 200) throw new Error(`the node answered HTTP ${response.statusCode}`)
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown
  }

  async function challenge(url: string, root: CID): Promise<ProofOutcome> {
    const signal = AbortSignal.timeout(timeoutMs)
    const picked = await sample(root, signal)
    const nonce = randomBytes(32)
    const cids = [...picked.keys()]
    let answer: unknown
    try {
      answer = await ask(url, nonce, cids, signal)
    } catch (error) {
      return { outcome: 'unreachable', reason: (error as Error).message }
    }
    const digests = (answer as { digests?: unknown }).digests
    if (!Array.isArray(digests) || digests.length !== cids.length) return { outcome: 'failed', reason: `no proof: the node answered ${JSON.stringify(answer).slice(0, 200)}` }
    const wrong = cids.filter((cid, i) => digests[i] !== storageProofDigest(nonce, picked.get(cid) as Uint8Array))
    if (wrong.length > 0) return { outcome: 'failed', reason: `wrong or missing proof for ${wrong.length} of ${cids.length} sampled blocks (e.g. ${wrong[0]})` }
    return { outcome: 'passed' }
  }

  return {
    async challenge(url, root) {
      const result = await challenge(url, root)
      metrics.storageProofs.inc({ outcome: result.outcome })
      if (result.outcome !== 'passed') logger.warn({ url, cid: root.toString(), ...result }, `storage challenge ${result.outcome}`)
      return result
    },
  }
}
