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

/** Byte equality without printing megabytes on failure. */
export function assertBytes(actual: Uint8Array | undefined, expected: Uint8Array | undefined, message = 'bytes differ'): void {
  if (actual === undefined || expected === undefined) throw new Error(`${message}: missing value`)
  const same = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected)
  if (!same) throw new Error(`${message}: ${actual.byteLength} vs ${expected.byteLength} bytes`)
}

/** Drains an async iterable into an array (Array.fromAsync is outside our es2024 lib). */
export async function toArray<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of source) out.push(item)
  return out
}
