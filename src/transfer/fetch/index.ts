/**
 * The verifying, resumable DAG fetcher a storage node replicates with: CARs from IPFS
 * trustless gateways, every block checked against its CID and its parent's link.
 */
export type { AddressPolicy, AddressPolicyOptions } from './address-policy.ts'
export { AddressRefusedError, createAddressPolicy } from './address-policy.ts'
export type { BandwidthLimiter, BandwidthLimiterOptions } from './bandwidth.ts'
export { createBandwidthLimiter } from './bandwidth.ts'
export { bearerSource } from './bearer-source.ts'
export type { SourceFailure } from './errors.ts'
export { FetchFailedError, SourceFailedError, UnexpectedBlockError } from './errors.ts'
export type { DagSource, FetchDagOptions, FetchDagResult, FetchProgressEvent } from './fetch-dag.ts'
export { fetchDag } from './fetch-dag.ts'
export { type HttpGetOptions, httpGet } from './http-get.ts'
