import assert from 'node:assert/strict'
import { it } from 'node:test'
import { createTokenService } from '../../src/coordinator/auth/token-service.ts'

const principal = { accountId: 'acct-1', role: 'user' as const, scopes: new Set(['read', 'write'] as const), keyId: 'key-1' }

it('accepts a token until it expires, then answers ERR_TOKEN_EXPIRED', async () => {
  let now = Date.parse('2026-11-22T00:00:00Z')
  const tokens = createTokenService({ secret: 'x'.repeat(40), ttlSeconds: 3600, clock: () => now })
  const { accessToken, expiresAt } = await tokens.issue(principal)
  assert.equal(expiresAt.getTime(), now + 3600_000)
  const verified = await tokens.verify(accessToken)
  assert.equal(verified.accountId, 'acct-1')
  assert.deepEqual([...verified.scopes], ['read', 'write'])
  now += 3599_000
  await tokens.verify(accessToken)
  now += 2_000
  await assert.rejects(tokens.verify(accessToken), { code: 'ERR_TOKEN_EXPIRED' })
})

it('refuses tokens signed with another secret or tampered with', async () => {
  const tokens = createTokenService({ secret: 'a'.repeat(40), ttlSeconds: 60 })
  const other = createTokenService({ secret: 'b'.repeat(40), ttlSeconds: 60 })
  const { accessToken } = await other.issue(principal)
  await assert.rejects(tokens.verify(accessToken), { code: 'ERR_UNAUTHORIZED' })
  const own = (await tokens.issue(principal)).accessToken
  const [header, , signature] = own.split('.')
  const elevated = Buffer.from(JSON.stringify({ sub: 'acct-1', role: 'admin', scopes: ['admin'] })).toString('base64url')
  await assert.rejects(tokens.verify(`${header}.${elevated}.${signature}`), { code: 'ERR_UNAUTHORIZED' })
  await assert.rejects(tokens.verify('garbage'), { code: 'ERR_UNAUTHORIZED' })
})
