/**
 * The allocator: a pure function from one pin, the fleet and the pin's current allocations
 * to the changes that bring it to its replication goal. No I/O; the reconcile loop applies
 * its decisions.
 *
 * Rules (see docs/architecture.md):
 * - `min`/`max` −1 mean every usable node; otherwise the goal is `max` copies (at least `min`).
 * - Existing allocations on nodes that still count are kept ("healthy": queued, pinning,
 *   pinned or failed-and-retrying on a node that is up or only briefly down). A copy that
 *   failed `maxAttempts` times, for a reason of its own (not its sources'), is stuck: it moves to another node with room (its allocation
 *   is released once a replacement is allocated); without one it stays and keeps retrying.
 * - New copies go to usable nodes (up, not draining, not revoked) with room for the pin
 *   (available ≥ size), preferring a failure-domain tag value not yet used by the pin, then
 *   the most available space × weight.
 * - Copies above `max` are trimmed, keeping pinned copies first.
 * - A draining node's copy is released once the copies elsewhere are pinned.
 * - When fewer than `min` copies can exist, the pin is reported under-replicated; `live`
 *   counts the copies that exist now (pinned on a node that is up), which is what the
 *   under-replicated report and gauge count.
 */

/** How the coordinator currently sees a node. */
export type NodeState =
  /** reporting: may receive new allocations */
  | 'up'
  /** silent for less than the re-allocation timeout: its copies still count */
  | 'down'
  /** silent past the re-allocation timeout, or revoked: its copies no longer count */
  | 'gone'

export interface AllocatorNode {
  id: string
  state: NodeState
  draining: boolean
  tags: Record<string, string>
  /** Bytes available on storage paths with weight > 0. */
  available: number
  /** Σ available × weight over storage paths with weight > 0 (the ranking score). */
  weightedAvailable: number
}

export interface AllocatorPin {
  cid: string
  replicationMin: number
  replicationMax: number
  size: number
}

export type AllocatorAllocationStatus = 'queued' | 'pinning' | 'pinned' | 'failed' | 'unpinning' | 'unpinned'

export interface AllocatorAllocation {
  nodeId: string
  status: AllocatorAllocationStatus
  /** Failed attempts the node reported (0 when unknown). */
  attempts?: number
  /** Why the last attempt failed, as the node reported it (`CODE: message`). */
  reason?: string | null
}

/**
 * Failures a move cannot cure: the DAG's sources (the coordinator's staged copy, other
 * nodes) could not deliver it, e.g. while the coordinator restarts. Another node would fail
 * the same way, so such a copy keeps retrying where it is instead of moving.
 */
const SOURCE_FAILURE = /^(ERR_FETCH_FAILED|ERR_SOURCE_FAILED|ERR_CONTROL|ERR_ABORTED)\b/

export interface AllocationDecision {
  /** Nodes to allocate the pin to (in ranking order). */
  allocate: string[]
  /** Nodes whose allocation to remove (trim above max, finished drain). */
  deallocate: string[]
  /** Copies that count after the decision (excluding ones being drained away). */
  copies: number
  /** Copies pinned on nodes that are up now. */
  live: number
  /** Copies wanted at least (min, or every usable node for −1). */
  wanted: number
  /** Fewer than `wanted` copies are possible: reported, not silently dropped. */
  underReplicated: boolean
  /** Why, when under-replicated. */
  reason?: string
}

export interface AllocatorOptions {
  /** Tag whose values are failure domains (e.g. `region`); copies spread across its values. */
  failureDomainTag?: string
  /** Failed attempts after which a copy moves to another node with room. Default 3. */
  maxAttempts?: number
}

export const DEFAULT_MAX_ATTEMPTS = 3

/**
 * Repo bytes `pins` pins of `bytes` file bytes in all may take: a pin's size counts file
 * bytes, its DAG adds UnixFS framing and parent blocks (~0.03 % for chunked files, a few
 * dozen bytes for a tiny one). 1 % + 1 KiB per pin bounds that, so a copy that fits on
 * paper fits on disk.
 */
export function storedBytesEstimate(bytes: number, pins = 1): number {
  return bytes + Math.ceil(bytes / 100) + 1024 * pins
}

const ACTIVE: ReadonlySet<AllocatorAllocationStatus> = new Set(['queued', 'pinning', 'pinned', 'failed'])
const KEEP_RANK: Record<AllocatorAllocationStatus, number> = {
  pinned: 4,
  pinning: 3,
  queued: 2,
  failed: 1,
  unpinning: 0,
  unpinned: 0,
}

/** Decides the allocations of one pin. Pure and deterministic (ties break on node id). */
export function decideAllocations(
  pin: AllocatorPin,
  nodes: readonly AllocatorNode[],
  allocations: readonly AllocatorAllocation[],
  options: AllocatorOptions = {},
): AllocationDecision {
  const byId = new Map(nodes.map((n) => [n.id, n]))
  const usable = nodes.filter((n) => n.state === 'up' && !n.draining)
  const everywhere = pin.replicationMin === -1 || pin.replicationMax === -1
  const wanted = pin.replicationMin === -1 ? Math.max(usable.length, 1) : pin.replicationMin
  const goal = everywhere ? usable.length : Math.max(pin.replicationMax, pin.replicationMin)
  const tagOf = (node: AllocatorNode) => (options.failureDomainTag ? (node.tags[options.failureDomainTag] ?? '') : '')

  const active = allocations.filter((a) => ACTIVE.has(a.status))
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS
  const isStuck = (a: AllocatorAllocation) =>
    a.status === 'failed' && (a.attempts ?? 0) >= maxAttempts && !SOURCE_FAILURE.test(a.reason ?? '')
  // copies that count: on nodes up or briefly down, not being drained
  const counted = active.filter((a) => {
    const node = byId.get(a.nodeId)
    return node !== undefined && node.state !== 'gone' && !node.draining
  })
  const stuck = counted.filter(isStuck)
  const kept = counted.filter((a) => !isStuck(a))
  const draining = active.filter((a) => byId.get(a.nodeId)?.draining === true && byId.get(a.nodeId)?.state !== 'gone')

  const deallocate: string[] = []
  let keptIds = kept.map((a) => a.nodeId)

  // trim above max (never for "everywhere": a node that is merely down keeps its copy)
  if (!everywhere && kept.length > goal) {
    const ranked = [...kept].sort((a, b) => compareKeep(a, b, byId))
    const keep = ranked.slice(0, goal)
    for (const a of kept) if (!keep.includes(a)) deallocate.push(a.nodeId)
    keptIds = keep.map((a) => a.nodeId)
  }

  // add copies up to the goal
  const allocate: string[] = []
  const holding = new Set(active.map((a) => a.nodeId))
  const usedTags = new Set(keptIds.map((id) => byId.get(id)).filter((n) => n !== undefined).map(tagOf))
  let candidates = usable.filter((n) => !holding.has(n.id))
  const needed = storedBytesEstimate(pin.size)
  const tooSmall = candidates.filter((n) => n.available < needed).length
  candidates = candidates.filter((n) => n.available >= needed)
  while (keptIds.length + allocate.length < goal && candidates.length > 0) {
    const fresh = options.failureDomainTag ? candidates.filter((n) => !usedTags.has(tagOf(n))) : []
    const pool = fresh.length > 0 ? fresh : candidates
    const best = pool.reduce((a, b) => (compareSpace(a, b) <= 0 ? a : b))
    allocate.push(best.id)
    usedTags.add(tagOf(best))
    candidates = candidates.filter((n) => n !== best)
  }
  // stuck copies go once replaced; as many as the goal still lacks stay and keep retrying
  const short = Math.max(0, goal - keptIds.length - allocate.length)
  for (const a of stuck.slice(short)) deallocate.push(a.nodeId)
  const copies = keptIds.length + allocate.length + Math.min(short, stuck.length)
  const live = active.filter((a) => a.status === 'pinned' && byId.get(a.nodeId)?.state === 'up').length

  // a draining node's copy goes once the copies elsewhere are pinned
  if (draining.length > 0) {
    const pinnedElsewhere = kept.filter((a) => a.status === 'pinned' && keptIds.includes(a.nodeId)).length
    if (pinnedElsewhere >= 1 && pinnedElsewhere >= Math.min(Math.max(wanted, 1), copies)) {
      for (const a of draining) deallocate.push(a.nodeId)
    }
  }

  const underReplicated = copies < wanted
  const decision: AllocationDecision = { allocate, deallocate, copies, live, wanted, underReplicated }
  if (underReplicated) {
    decision.reason =
      usable.length === 0
        ? 'no usable storage node'
        : tooSmall > 0
          ? `${copies} of ${wanted} copies possible: ${tooSmall} node(s) lack room for ${pin.size} bytes`
          : `${copies} of ${wanted} copies possible: only ${usable.length} usable node(s)`
  }
  return decision
}

/** More space × weight first; ties by node id. */
function compareSpace(a: AllocatorNode, b: AllocatorNode): number {
  return b.weightedAvailable - a.weightedAvailable || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/** Which copy to keep first when trimming: pinned > pinning > queued > failed, up before down, then space. */
function compareKeep(a: AllocatorAllocation, b: AllocatorAllocation, byId: Map<string, AllocatorNode>): number {
  const na = byId.get(a.nodeId)
  const nb = byId.get(b.nodeId)
  const up = (n: AllocatorNode | undefined) => (n?.state === 'up' ? 1 : 0)
  return (
    KEEP_RANK[b.status] - KEEP_RANK[a.status] ||
    up(nb) - up(na) ||
    (na && nb ? compareSpace(na, nb) : 0) ||
    (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0)
  )
}
