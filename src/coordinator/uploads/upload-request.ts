import type { ImportOptions } from '../../core/index.ts'

/** The import options that decide CIDs, as the CLI's `add` takes them. */
export type LayoutOptions = Pick<ImportOptions, 'profile' | 'cidVersion' | 'rawLeaves' | 'chunker'>

export type UploadMode = 'files' | 'folder'

/** One file of an upload, received and waiting on disk. */
export interface ReceivedFile {
  /** Validated segments of its relative path inside the upload (`['a', 'b.txt']`). */
  segments: string[]
  /** Where its bytes are. */
  diskPath: string
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
  /** Folder mode: the directory holding the files laid out by relative path. */
  treeDir?: string
  /** Folder mode: the folder entry's mtime (default: now). */
  mtime?: number
  /** Removes whatever the upload left on disk; called once the upload is done or failed. */
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
