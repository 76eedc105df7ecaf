import type { StoragePathReportEntry } from '../../cluster/index.ts'
import type { StorageNode } from '../../registry/index.ts'
import type { AllocatorNode, NodeState } from './allocator.ts'
import type { GatewayClaim } from './gateway-vouching.ts'

export interface FleetTimeouts {
  /** A node silent this long is down (ms). */
  downAfterMs: number
  /** A node down this long has its copies re-allocated (ms). */
  reallocateAfterMs: number
}

/** What a node last reported (stored as the registry row's `info`). */
export interface NodeReportInfo {
  storage?: StoragePathReportEntry[]
  pins?: number
  queued?: number
  failed?: number
  version?: string
  reportedAt?: number
  /** The gateway URL the node claims and the coordinator's verdict on it (gateway-vouching.ts). */
  gateway?: GatewayClaim
}

/**
 * A node's state from its row: `up` when it reported within the down timeout (and its
 * session has not ended), `down` when silent for less than the re-allocation timeout,
 * `gone` after that, when revoked, or when never seen. `graceFrom` (the coordinator's start,
 * for nodes that were not gone before it) counts the re-allocation timeout from then
 * instead: the coordinator's own downtime is not the node's silence.
 */
export function nodeState(node: StorageNode, timeouts: FleetTimeouts, at = Date.now(), graceFrom?: number): NodeState {
  if (node.revoked || node.lastSeen === null) return 'gone'
  const silent = at - node.lastSeen
  if (node.status === 'online' && silent < timeouts.downAfterMs) return 'up'
  return at - Math.max(node.lastSeen, graceFrom ?? 0) < timeouts.reallocateAfterMs ? 'down' : 'gone'
}

/**
 * The nodes that get a full re-allocation timeout from the coordinator's start (`startedAt`):
 * all but those already gone before it stopped, judged against the newest report from
 * before the start (the coordinator's last sign of life; its own downtime is unknown, and a
 * node that reconnected since must not make the others look long gone).
 */
export function nodesGracedAtStart(nodes: readonly StorageNode[], timeouts: FleetTimeouts, startedAt: number): Set<string> {
  const before = nodes.map((n) => n.lastSeen ?? 0).filter((seen) => seen < startedAt)
  const latest = Math.max(0, ...before)
  return new Set(nodes.filter((n) => n.lastSeen !== null && latest - n.lastSeen < timeouts.reallocateAfterMs).map((n) => n.id))
}

/** Space of storage paths that take new data (weight > 0): plain and weighted. */
export function storageSpace(storage: readonly StoragePathReportEntry[]): {
  total: number
  used: number
  available: number
  weightedAvailable: number
} {
  let total = 0
  let used = 0
  let available = 0
  let weightedAvailable = 0
  for (const path of storage) {
    used += path.used
    total += path.maxSize > 0 ? path.maxSize : path.used + path.available
    if (path.weight <= 0) continue
    available += path.available
    weightedAvailable += path.available * path.weight
  }
  return { total, used, available, weightedAvailable }
}

/** The allocator's view of a registry node. */
export function toAllocatorNode(node: StorageNode, timeouts: FleetTimeouts, at = Date.now(), graceFrom?: number): AllocatorNode {
  return {
    id: node.id,
    state: nodeState(node, timeouts, at, graceFrom),
    draining: node.draining,
    tags: node.tags,
    available: node.capacity.availableBytes ?? 0,
    weightedAvailable: node.capacity.weightedAvailableBytes ?? 0,
  }
}
