import { CID } from 'multiformats/cid'
import { stat } from '../../core/index.ts'
import type { Repo } from '../../repo/index.ts'
import { type DagSource, fetchDag } from '../../transfer/index.ts'

/** What the coordinator measured of a DAG it fetched and verified itself. */
export interface MeasuredDag {
  /** UnixFS size of the root (the file's bytes), from the verified blocks. */
  fileSize: number
  /** Bytes of every block of the DAG. */
  dagBytes: number
}

/**
 * Fetches the DAG a node says it ingested from that node (every block verified against its
 * CID and parent link), pins it in the origin repo and hands the measurements to
 * `register`; the pin is dropped again when `register` throws and the repo did not hold it
 * before, so a refused ingest leaves nothing behind. Runs inside `repo.runAdd` (GC waits).
 * Rejects with the fetch's error when the node does not have the DAG (or `signal` fires).
 */
export type IngestVerifier = <T>(
  cid: string,
  source: DagSource,
  options: { signal: AbortSignal; register: (measured: MeasuredDag) => Promise<T> },
) => Promise<T>

export function createIngestVerifier(repo: Repo): IngestVerifier {
  return (cid, source, { signal, register }) =>
    repo.runAdd(async () => {
      const root = CID.parse(cid)
      const fetched = await fetchDag(root, repo.blocks, { sources: [source], signal })
      const heldBefore = (await repo.pins.get(root)) !== undefined
      await repo.pins.add(root, { recursive: true, signal })
      try {
        const entry = await stat(repo.blocks, cid, { signal })
        return await register({ fileSize: Number(entry.size), dagBytes: fetched.bytes })
      } catch (error) {
        if (!heldBefore) await repo.pins.rm(root)
        throw error
      }
    })
}
