import assert from 'node:assert/strict'
import { it } from 'node:test'
import { createRevocationCheck } from '../../src/coordinator/auth/revocation-check.ts'
import type { Principal } from '../../src/coordinator/auth/principal.ts'
import type { TokenState } from '../../src/registry/index.ts'

const principal: Principal = {
  accountId: 'acct-1',
  role: 'user',
  scopes: new Set(['read', 'write']),
  keyId: 'key-1',
  token: { id: 'tok-1', issuedAt: 1_000, expiresAt: 3_600_000 },
}

/** A registry stand-in that counts reads and answers the current `state`. */
function fakeRegistry(initial: TokenState) {
  const fake = {
    state: initial,
    reads: 0,
    fail: false,
    revocations: {
      state: async () => {
        fake.reads++
        if (fake.fail) throw new Error('registry down')
        return fake.state
      },
      revokeToken: async () => {},
      revokeAll: async () => true,
    },
  }
  return fake
}

const live: TokenState = { account: { disabled: false, role: 'user', tokensValidAfter: 0 }, keyRevoked: false, revokedTokenIds: new Set() }

it('reads the registry once per window, then sees a revocation made elsewhere', async () => {
  let now = 10_000
  const registry = fakeRegistry(live)
  const check = createRevocationCheck({ revocations: registry.revocations, cacheSeconds: 2, clock: () => now })
  for (let i = 0; i < 1000; i++) await check.assertLive(principal)
  assert.equal(registry.reads, 1, 'the cache answers within the window')
  registry.state = { ...live, keyRevoked: true }
  now += 1_999
  await check.assertLive(principal)
  now += 1
  await assert.rejects(check.assertLive(principal), { code: 'ERR_UNAUTHORIZED' })
  assert.equal(registry.reads, 2)
})

it('refuses each kind of revocation', async () => {
  const cases: [string, TokenState, Principal?][] = [
    ['account gone', { ...live, account: undefined }],
    ['disabled', { ...live, account: { disabled: true, role: 'user', tokensValidAfter: 0 } }],
    ['demoted', { ...live, account: { disabled: false, role: 'user', tokensValidAfter: 0 } }, { ...principal, role: 'admin' }],
    ['password changed', { ...live, account: { disabled: false, role: 'user', tokensValidAfter: 1_000 } }],
    ['signed out', { ...live, revokedTokenIds: new Set(['tok-1']) }],
  ]
  for (const [what, state, caller] of cases) {
    const check = createRevocationCheck({ revocations: fakeRegistry(state).revocations, cacheSeconds: 2 })
    await assert.rejects(check.assertLive(caller ?? principal), { code: 'ERR_UNAUTHORIZED' }, what)
  }
  const later = createRevocationCheck({ revocations: fakeRegistry(cases[3]?.[1] as TokenState).revocations, cacheSeconds: 2 })
  await later.assertLive({ ...principal, token: { id: 'tok-2', issuedAt: 1_001, expiresAt: 3_600_000 } })
})

it('does not cache a failed read, and forget() drops the cached state at once', async () => {
  const registry = fakeRegistry(live)
  const check = createRevocationCheck({ revocations: registry.revocations, cacheSeconds: 60 })
  registry.fail = true
  await assert.rejects(check.assertLive(principal), /registry down/)
  registry.fail = false
  await check.assertLive(principal)
  registry.state = { ...live, keyRevoked: true }
  await check.assertLive(principal)
  check.forget('acct-1')
  await assert.rejects(check.assertLive(principal), { code: 'ERR_UNAUTHORIZED' })
})
