import { createReadStream } from 'node:fs'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { type ImportCandidate, importEntries, importPaths, PinfoldError } from '../../core/index.ts'
import type { Repo } from '../../repo/index.ts'
import { commonTopDirectory } from './upload-paths.ts'
import type { UploadRequest } from './upload-request.ts'

/** Read size when streaming a received file into the importer: one default chunk. */
const READ_CHUNK_BYTES = 256 * 1024

/** What the repo now holds for an upload: one root per file (files mode) or one folder root. */
export interface ImportedUpload {
  /** Files mode: the CID of each file, in `request.files` order. */
  fileCids: CID[]
  /** Folder mode: the folder's CID and name. */
  folder?: { cid: CID; name: string }
}

/**
 * Imports an upload's received files into the origin repo and pins every root, inside
 * `repo.runAdd` so GC cannot collect the blocks between import and pin. Resolves only once
 * the blocks and pins are durable (the importer flushes before yielding roots; `pins.add`
 * flushes again and commits the pin), so the registry may reference the CIDs afterwards.
 */
export function importUpload(repo: Repo, request: UploadRequest, signal?: AbortSignal): Promise<ImportedUpload> {
  return repo.runAdd(async () => {
    const imported = request.mode === 'folder' ? await importFolder(repo, request, signal) : await importFiles(repo, request, signal)
    const roots = imported.folder ? [imported.folder.cid] : imported.fileCids
    for (const cid of roots) await repo.pins.add(cid, { signal })
    return imported
  })
}

/**
 * Folder mode: the received tree imported exactly as `pinfold add -r` imports a directory
 * (children in byte order), so the folder's CID equals adding the same tree from disk.
 */
async function importFolder(repo: Repo, request: UploadRequest, signal?: AbortSignal): Promise<ImportedUpload> {
  if (request.treeDir === undefined) throw new Error('folder upload without a tree directory')
  const top = commonTopDirectory(request.files.map((file) => file.segments))
  const name = request.name ?? top
  if (name === undefined) {
    throw new PinfoldError('ERR_VALIDATION', 'a folder upload needs a name: send the field "name" or paths inside one top-level directory', {
      userError: true,
    })
  }
  const root = top === undefined ? request.treeDir : join(request.treeDir, top)
  let last: CID | undefined
  for await (const entry of importPaths([root], repo.blocks, { ...request.layout, signal })) last = entry.cid
  if (last === undefined) throw new PinfoldError('ERR_IMPORT_FAILED', 'importer produced no folder root')
  return { fileCids: [], folder: { cid: last, name } }
}

/**
 * Files mode: every file is its own root. One importer run for all files, so the blocks
 * are flushed once rather than once per file (which dominates for many small files).
 */
async function importFiles(repo: Repo, request: UploadRequest, signal?: AbortSignal): Promise<ImportedUpload> {
  const candidates = request.files.map((file, i): ImportCandidate => ({ path: `f${i}`, content: readChunks(file.diskPath) }))
  const cids: (CID | undefined)[] = new Array(request.files.length)
  // the importer may finish files out of order; the synthetic names map them back
  for await (const entry of importEntries(candidates, repo.blocks, { ...request.layout, signal })) {
    cids[Number(entry.path.slice(1))] = entry.cid
  }
  return { fileCids: cids.map((cid, i) => cid ?? missingRoot(i)) }
}

function missingRoot(index: number): never {
  throw new PinfoldError('ERR_IMPORT_FAILED', `importer produced no root for file ${index}`)
}

/** A lazy read stream: the file is opened only when the importer reaches it, so many files never exhaust descriptors. */
async function* readChunks(path: string): AsyncGenerator<Uint8Array> {
  for await (const chunk of createReadStream(path, { highWaterMark: READ_CHUNK_BYTES })) yield chunk as Buffer
}
