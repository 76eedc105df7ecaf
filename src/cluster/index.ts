/**
 * Cluster membership shared by the coordinator and storage nodes: node identities, proofs
 * of the cluster secret, peer tokens, and the control channel's messages.
 */
export * from './cluster-secret.ts'
export * from './control-messages.ts'
export * from './gateway-identity.ts'
export * from './node-identity.ts'
export * from './peer-token.ts'
export * from './secret-file.ts'
export * from './share-token.ts'
export * from './storage-proof.ts'
