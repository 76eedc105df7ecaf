// The cluster routes (nodes, pins) declare no response schemas in the OpenAPI document, so
// the generated types say nothing about their bodies. These describe what they answer today
// (src/coordinator/cluster/cluster-service.ts: NodeView, UnderReplicatedPin, PinStatusView);
// the calls themselves still go through the typed client.

export type NodeStatus = 'online' | 'down' | 'offline' | 'revoked'
export type AllocationStatus = 'queued' | 'pinning' | 'pinned' | 'failed' | 'unpinning' | 'unpinned'

export interface StoragePathInfo {
  id: string
  weight: number
  maxSize: number
  used: number
  available: number
}

export interface NodeInfo {
  id: string
  name: string
  tags: Record<string, string>
  status: NodeStatus
  state: string
  connected: boolean
  draining: boolean
  gatewayUrl: string | null
  lastSeen: string | null
  createdAt: string | null
  capacity: { totalBytes: number; usedBytes: number; availableBytes: number }
  storage: StoragePathInfo[]
  pins: number
  queued: number
  failed: number
  version: string | null
}

export interface UnderReplicatedPin {
  cid: string
  replicationMin: number
  replicationMax: number
  copies: number
  wanted: number
  reason: string
  since: string | null
}

export interface PinStatus {
  cid: string
  replicationMin: number
  replicationMax: number
  underReplicated: UnderReplicatedPin | null | false
  allocations: {
    nodeId: string
    nodeName: string | null
    nodeStatus: NodeStatus | 'unknown'
    status: AllocationStatus
    attempts: number
    reason: string | null
    updatedAt: string | null
  }[]
}
