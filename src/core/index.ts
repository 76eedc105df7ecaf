/**
 * Pinfold's pure content layer: UnixFS import/export with Kubo-identical CIDs, CAR
 * streams, DAG walking and block verification. No I/O beyond the `BlockSource`/
 * `BlockSink` passed in (and the local filesystem for `importPaths`/`exportToDirectory`).
 */
export * from './errors.ts'
export { escapeControlCharacters, rejectControlCharacters } from './control-characters.ts'
export type * from './options.ts'
export type * from './blockstore.ts'

export type { ProfileName } from './profiles.ts'
export { parseChunker, PROFILE_NAMES } from './profiles.ts'
export type { ImportCandidate, ImportedEntry, ImportOptions, ImportProgressEvent } from './import.ts'
export { importBytes, importEntries } from './import.ts'
export { importPaths } from './fs-source.ts'
export { assertSafeName, parseCid, parseCidPath } from './cid-path.ts'
export type { DagEntry } from './resolve.ts'
export { cat, ls, stat } from './resolve.ts'
export { type ByteEntry, fileContent } from './file-content.ts'
export type { ExportProgressEvent, ExportResult, ExportToDirectoryOptions } from './export-directory.ts'
export { exportToDirectory } from './export-directory.ts'
export { encodeCar, exportCar } from './car-export.ts'
export type { CarImportOptions, CarImportProgressEvent, CarImportResult } from './car-import.ts'
export { importCar } from './car-import.ts'
export { CarBlockReader, type CarReadLimits } from './car-reader.ts'
export { blockLinks } from './block-links.ts'
export { verifyBlock } from './verify-block.ts'
export { walkDag } from './walk-dag.ts'
export { MemoryBlockstore } from './memory-blockstore.ts'
export { isIdentityCid, withIdentity } from './identity.ts'
