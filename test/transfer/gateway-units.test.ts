import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseAccept } from '../../src/transfer/gateway/accept-header.ts'
import { parseEntityBytes } from '../../src/transfer/gateway/car-options.ts'
import { resolveEntityBytes } from '../../src/transfer/gateway/entity-bytes.ts'
import { evaluateRange } from '../../src/transfer/gateway/http-range.ts'
import { contentDisposition, ifNoneMatchMatches } from '../../src/transfer/gateway/response-headers.ts'

describe('gateway helpers', () => {
  it('evaluates Range headers', () => {
    assert.deepEqual(evaluateRange(null, 10), { kind: 'full' })
    assert.deepEqual(evaluateRange('bytes=2-4', 10), { kind: 'partial', first: 2, last: 4 })
    assert.deepEqual(evaluateRange('bytes=8-100', 10), { kind: 'partial', first: 8, last: 9 })
    assert.deepEqual(evaluateRange('bytes=-3', 10), { kind: 'partial', first: 7, last: 9 })
    assert.deepEqual(evaluateRange('bytes=-30', 10), { kind: 'partial', first: 0, last: 9 })
    assert.deepEqual(evaluateRange('bytes=10-', 10), { kind: 'unsatisfiable' })
    assert.deepEqual(evaluateRange('bytes=-0', 10), { kind: 'unsatisfiable' })
    assert.deepEqual(evaluateRange('bytes=0-', 0), { kind: 'unsatisfiable' })
    assert.deepEqual(evaluateRange('bytes=5-2', 10), { kind: 'full' })
    assert.deepEqual(evaluateRange('bytes=0-1,4-5', 10), { kind: 'full' })
    assert.deepEqual(evaluateRange('items=0-1', 10), { kind: 'full' })
  })

  it('parses and resolves entity-bytes', () => {
    assert.deepEqual(parseEntityBytes('0:*'), { from: 0, to: undefined })
    assert.deepEqual(parseEntityBytes('499:-1000'), { from: 499, to: -1000 })
    assert.throws(() => parseEntityBytes('5:2'), { code: 'ERR_INVALID_GATEWAY_REQUEST' })
    assert.throws(() => parseEntityBytes('1-2'), { code: 'ERR_INVALID_GATEWAY_REQUEST' })
    assert.deepEqual(resolveEntityBytes({ from: 0, to: undefined }, 100), { first: 0, last: 99 })
    assert.deepEqual(resolveEntityBytes({ from: -10, to: undefined }, 100), { first: 90, last: 99 })
    assert.deepEqual(resolveEntityBytes({ from: 10, to: -50 }, 100), { first: 10, last: 50 })
    assert.deepEqual(resolveEntityBytes({ from: 10, to: 1000 }, 100), { first: 10, last: 99 })
    assert.equal(resolveEntityBytes({ from: 60, to: -50 }, 100), undefined, 'zero-length: block scope')
    assert.equal(resolveEntityBytes({ from: 0, to: undefined }, 0), undefined)
    assert.throws(() => resolveEntityBytes({ from: 100, to: undefined }, 100), { code: 'ERR_RANGE_OUTSIDE_ENTITY' })
  })

  it('orders Accept ranges by weight, keeping header order on ties', () => {
    const ranges = parseAccept('text/html;q=0.5, application/vnd.ipld.car; version="1"; order=dfs, */*;q=0, application/json')
    assert.deepEqual(
      ranges.map((r) => r.type),
      ['application/vnd.ipld.car', 'application/json', 'text/html'],
    )
    assert.deepEqual(ranges[0]?.params, { version: '1', order: 'dfs' })
  })

  it('formats Content-Disposition and matches If-None-Match', () => {
    assert.equal(contentDisposition('attachment', 'a.car'), 'attachment; filename="a.car"')
    assert.equal(contentDisposition('inline', 'say "hi".txt'), `inline; filename="say _hi_.txt"; filename*=UTF-8''say%20%22hi%22.txt`)
    assert.ok(ifNoneMatchMatches('*', '"x"'))
    assert.ok(ifNoneMatchMatches('"a", W/"x"', '"x"'))
    assert.ok(!ifNoneMatchMatches('"a"', '"x"'))
  })
})
