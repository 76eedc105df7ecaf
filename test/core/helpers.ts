import { type ImportCandidate, type ImportedEntry, type ImportOptions, importEntries } from '../../src/core/index.ts'
import type { BlockSink } from '../../src/core/index.ts'
import type { TreeEntry } from './fixtures/datasets.ts'

/** Imports a tree and returns path → entry. */
export async function importTree(
  entries: TreeEntry[],
  sink: BlockSink,
  options: ImportOptions = {},
): Promise<Map<string, ImportedEntry>> {
  const out = new Map<string, ImportedEntry>()
  const candidates: ImportCandidate[] = entries.map((e) => (e.content ? { path: e.path, content: e.content } : { path: e.path }))
  for await (const entry of importEntries(candidates, sink, options)) out.set(entry.path, entry)
  return out
}

/** Concatenates an async stream of chunks. */
export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) chunks.push(chunk)
  return Buffer.concat(chunks)
}

export async function* chunksOf(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += size) yield bytes.subarray(i, i + size)
}
