/**
 * The coordinator's side of the cluster: node control sessions, allocation, node health,
 * the change feed and anti-entropy. See cluster-service.ts.
 */
export * from './allocator.ts'
export * from './cluster-keys.ts'
export * from './cluster-service.ts'
export * from './fleet.ts'
export * from './leader-election.ts'
export { CLOSE_CODES, type ControlSocket, FEED_PAGE, NodeSession } from './node-session.ts'
export { createIngestVerifier, type IngestVerifier, type MeasuredDag } from './verify-ingest.ts'
export { createStorageProver, type ProofOutcome, type StorageProver, type StorageProverOptions } from './storage-prover.ts'
