import type { ImportOptions } from '../../core/index.ts'
import type { StreamingImport } from './import-upload.ts'

/** The import options that decide CIDs, as the CLI's `add` takes them. */
export type LayoutOptions = Pick<ImportOptions, 'profile' | 'cidVersion' | 'rawLeaves' | 'chunker'>

export type UploadMode = 'files' | 'folder'

/** One file of an upload, fully received. */
export interface ReceivedFile {
  /** Validated segments of its relative path inside the upload (`['a', 'b.txt']`). */
  segments: string[]
  /** Where its bytes wait on disk (tus); absent when they went straight into `UploadRequest.import`. */
  diskPath?: string
  bytes: number
  /** Entry modification time (ms since epoch) as sent by the client; default: now. */
  mtime?: number
}

/** Everything needed to turn received bytes into content and entries. */
export interface UploadRequest {
  /** `files`: one entry per file; `folder`: one immutable UnixFS directory, one entry. */
  mode: UploadMode
  /** Registry directory the entries land in (created when missing). */
  targetPath: string
  /** Folder mode: the folder's name (default: the common top-level directory of the paths). */
  name?: string
  layout: LayoutOptions
  files: ReceivedFile[]
  /**
   * Multipart: the import that ran while the body arrived and already holds every file's
   * blocks (unpinned, under the repo's add lock); finishing it pins the roots. Absent: the
   * files are imported from `diskPath` (tus).
   */
  import?: StreamingImport
  /** Folder mode: the folder entry's mtime (default: now). */
  mtime?: number
  /** Removes whatever the upload left on disk and aborts an unfinished import; called once the upload is done or failed. */
  discard(): Promise<void>
}

/** An entry an upload created. */
export interface UploadedEntry {
  id: string
  path: string
  kind: 'file' | 'folder'
  cid: string
  size: number
}
