import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  type AllocatorAllocation,
  type AllocatorNode,
  type AllocatorPin,
  decideAllocations,
  storedBytesEstimate,
} from '../../src/coordinator/cluster/allocator.ts'

const GB = 2 ** 30

function node(id: string, available: number, extra: Partial<AllocatorNode> = {}): AllocatorNode {
  return { id, state: 'up', draining: false, tags: {}, available, weightedAvailable: available, ...extra }
}

function pin(min: number, max: number, size = 1000): AllocatorPin {
  return { cid: 'bafy-test', replicationMin: min, replicationMax: max, size }
}

const alloc = (nodeId: string, status: AllocatorAllocation['status'] = 'pinned'): AllocatorAllocation => ({ nodeId, status })

describe('allocator', () => {
  it('ranks by available space × weight', () => {
    const nodes = [
      node('a', 10 * GB, { weightedAvailable: 10 * GB }),
      node('b', 5 * GB, { weightedAvailable: 50 * GB }), // weight 10
      node('c', 20 * GB, { weightedAvailable: 20 * GB }),
    ]
    const d = decideAllocations(pin(2, 2), nodes, [])
    assert.deepEqual(d.allocate, ['b', 'c'])
    assert.deepEqual(d.deallocate, [])
    assert.equal(d.copies, 2)
    assert.equal(d.underReplicated, false)
  })

  it('spreads across failure-domain tag values before doubling up', () => {
    const nodes = [
      node('eu1', 100 * GB, { tags: { region: 'eu' } }),
      node('eu2', 90 * GB, { tags: { region: 'eu' } }),
      node('us1', 10 * GB, { tags: { region: 'us' } }),
      node('ap1', 5 * GB, { tags: { region: 'ap' } }),
    ]
    assert.deepEqual(decideAllocations(pin(3, 3), nodes, [], { failureDomainTag: 'region' }).allocate, ['eu1', 'us1', 'ap1'])
    // an existing copy in eu makes the next one go elsewhere
    assert.deepEqual(decideAllocations(pin(2, 2), nodes, [alloc('eu2')], { failureDomainTag: 'region' }).allocate, ['us1'])
    // more copies than domains: doubles up by space
    assert.deepEqual(decideAllocations(pin(4, 4), nodes, [], { failureDomainTag: 'region' }).allocate, ['eu1', 'us1', 'ap1', 'eu2'])
    // without the option, space alone decides
    assert.deepEqual(decideAllocations(pin(2, 2), nodes, []).allocate, ['eu1', 'eu2'])
  })

  it('never allocates to a node without room for the pin and its DAG framing', () => {
    // 'tight' has room for the file bytes only: the DAG around them would not fit
    const nodes = [node('small', 500), node('big', 5000), node('exact', storedBytesEstimate(1000)), node('tight', 1000)]
    const d = decideAllocations(pin(3, 3, 1000), nodes, [])
    assert.deepEqual(d.allocate, ['big', 'exact'])
    assert.equal(d.underReplicated, true)
    assert.match(d.reason ?? '', /lack room/)
  })

  it('reports a pin whose minimum cannot be reached instead of dropping it', () => {
    const d = decideAllocations(pin(3, 5), [node('a', GB), node('b', GB)], [])
    assert.deepEqual(d.allocate.sort(), ['a', 'b'])
    assert.equal(d.copies, 2)
    assert.equal(d.wanted, 3)
    assert.equal(d.underReplicated, true)
    const none = decideAllocations(pin(1, 1), [], [])
    assert.equal(none.underReplicated, true)
    assert.equal(none.reason, 'no usable storage node')
  })

  it('−1 means every usable node; down and gone nodes get nothing new', () => {
    const nodes = [node('a', GB), node('b', GB), node('c', GB, { state: 'down' }), node('d', GB, { state: 'gone' })]
    const d = decideAllocations(pin(-1, -1), nodes, [alloc('a')])
    assert.deepEqual(d.allocate, ['b'])
    assert.equal(d.wanted, 2)
    assert.equal(d.underReplicated, false)
    // a copy on a briefly-down node is never trimmed for −1
    assert.deepEqual(decideAllocations(pin(-1, -1), nodes, [alloc('a'), alloc('b'), alloc('c')]).deallocate, [])
  })

  it('keeps existing healthy allocations and re-allocates copies of gone nodes', () => {
    const nodes = [node('a', GB), node('b', 100 * GB), node('c', 50 * GB), node('old', 200 * GB, { state: 'gone' })]
    // a holds a copy: kept although b/c have more space
    assert.deepEqual(decideAllocations(pin(2, 2), nodes, [alloc('a'), alloc('old')]).allocate, ['b'])
    // a briefly-down node's copy still counts: no churn
    const withDown = [node('a', GB), node('b', 100 * GB), node('c', 50 * GB, { state: 'down' })]
    assert.deepEqual(decideAllocations(pin(2, 2), withDown, [alloc('a'), alloc('c')]).allocate, [])
  })

  it('trims copies above max when a node returns, keeping pinned copies', () => {
    const nodes = [node('a', GB), node('b', 2 * GB), node('c', 3 * GB)]
    // c came back with its pinned copy while b's replacement is still pinning
    const d = decideAllocations(pin(1, 2), nodes, [alloc('a'), alloc('b', 'pinning'), alloc('c')])
    assert.deepEqual(d.deallocate, ['b'])
    assert.deepEqual(d.allocate, [])
    assert.equal(d.copies, 2)
    // all pinned: the one with least space goes
    assert.deepEqual(decideAllocations(pin(1, 2), nodes, [alloc('a'), alloc('b'), alloc('c')]).deallocate, ['a'])
  })

  it('drain: replacements first, the draining copy released once they are pinned', () => {
    const nodes = [node('d', 100 * GB, { draining: true }), node('a', GB), node('b', 2 * GB)]
    const first = decideAllocations(pin(1, 1), nodes, [alloc('d')])
    assert.deepEqual(first.allocate, ['b'])
    assert.deepEqual(first.deallocate, [], 'the draining copy stays until the replacement is pinned')
    const pinning = decideAllocations(pin(1, 1), nodes, [alloc('d'), alloc('b', 'queued')])
    assert.deepEqual(pinning.allocate, [])
    assert.deepEqual(pinning.deallocate, [])
    const done = decideAllocations(pin(1, 1), nodes, [alloc('d'), alloc('b')])
    assert.deepEqual(done.deallocate, ['d'])
    // nowhere to go: the draining copy stays and the pin is reported
    const stuck = decideAllocations(pin(1, 1), [node('d', GB, { draining: true })], [alloc('d')])
    assert.deepEqual(stuck.deallocate, [])
    assert.equal(stuck.underReplicated, true)
  })

  it('an unpinning allocation is no copy: the node may be asked to pin again', () => {
    const d = decideAllocations(pin(1, 1), [node('a', GB)], [alloc('a', 'unpinning')])
    assert.deepEqual(d.allocate, ['a'])
    assert.equal(d.underReplicated, false)
  })

  it('a copy that failed maxAttempts times moves to another node with room', () => {
    const nodes = [node('a', 10 * GB), node('b', 5 * GB), node('c', 1 * GB)]
    const failing = { nodeId: 'a', status: 'failed' as const, attempts: 3 }
    const moved = decideAllocations(pin(2, 2), nodes, [failing, alloc('b')])
    assert.deepEqual(moved.allocate, ['c'], 'the replacement goes to a node without the pin')
    assert.deepEqual(moved.deallocate, ['a'], 'the stuck copy is released once replaced')
    const retrying = decideAllocations(pin(2, 2), nodes, [{ ...failing, attempts: 2 }, alloc('b')])
    assert.deepEqual([retrying.allocate, retrying.deallocate], [[], []], 'below maxAttempts it keeps retrying where it is')
    const nowhere = decideAllocations(pin(2, 2), nodes.slice(0, 2), [failing, alloc('b')])
    assert.deepEqual([nowhere.allocate, nowhere.deallocate], [[], []], 'with no other node it stays and keeps retrying')
  })

  it('a copy that failed because its sources could not deliver stays (another node would fail alike)', () => {
    const nodes = [node('a', 10 * GB), node('b', 5 * GB), node('c', 1 * GB)]
    const sourcesDown = { nodeId: 'a', status: 'failed' as const, attempts: 5, reason: 'ERR_FETCH_FAILED: no source delivered the DAG' }
    const stays = decideAllocations(pin(2, 2), nodes, [sourcesDown, { ...sourcesDown, nodeId: 'b' }])
    assert.deepEqual([stays.allocate, stays.deallocate], [[], []])
    const full = decideAllocations(pin(2, 2), nodes, [{ ...sourcesDown, reason: 'ERR_STORAGE_FULL: no room' }, alloc('b')])
    assert.deepEqual([full.allocate, full.deallocate], [['c'], ['a']], 'a failure of the node itself still moves')
  })

  it('counts only pinned copies on nodes that are up as live', () => {
    const nodes = [node('a', GB), node('b', GB, { state: 'down' }), node('c', GB), node('d', GB)]
    const d = decideAllocations(pin(3, 3), nodes, [alloc('a'), alloc('b'), { nodeId: 'c', status: 'failed', attempts: 1 }, alloc('d', 'queued')])
    assert.equal(d.live, 1, 'a only: b is down, c failed, d queued')
    assert.equal(d.underReplicated, false, 'placement is complete; under-replication is judged on live copies')
  })
})
