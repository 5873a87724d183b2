/**
 * Remembered token signatures (src/auth/verified-signatures.ts): a token sent a third time is not
 * verified again (its first request, a first sighting, costs no lookup; its second is remembered),
 * yet everything that would refuse it still does, on the request it would have:
 * a key removed from the JWKS (at the refresh that sees it), the token's `exp` on the gateway's
 * clock, and another route's audience, scopes and token age. Signature checks are counted on
 * Web Crypto's `verify`, which jose calls once per signature it checks.
 */
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest'
import { testGateway, type TestGateway } from '../support/gateway'
import { stoppedClock } from '../support/runtime'
import { issuerGateway } from './helpers'
import { bearer, newKey, sign, Tenant, type TestKey } from './tokens'

let verifies: MockInstance
beforeEach(() => {
  verifies = vi.spyOn(crypto.subtle, 'verify')
})
afterEach(() => {
  verifies.mockRestore()
})

async function tenantWithKey(): Promise<{ tenant: Tenant; key: TestKey }> {
  const tenant = new Tenant()
  const key = await newKey('ES256')
  await tenant.publish(key)
  return { tenant, key }
}

const status = async (gw: TestGateway, path: string, token: string) => (await gw.fetch(path, bearer(token))).status

/** Sends a good token twice (a first sighting, then remembered): two signature checks. */
async function remembered(gw: TestGateway, path: string, token: string): Promise<void> {
  expect(await status(gw, path, token)).toBe(200)
  expect(await status(gw, path, token)).toBe(200)
}

describe('remembered signatures', () => {
  it('a repeated token is verified at its first two requests, then never; another token, or the same one altered, is verified again', async () => {
    const { tenant, key } = await tenantWithKey()
    const gw = issuerGateway({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl })
    const token = await sign(key, tenant.issuer)
    for (let i = 0; i < 5; i++) expect(await status(gw, '/me', token)).toBe(200)
    expect(verifies).toHaveBeenCalledTimes(2)

    expect(await status(gw, '/me', await sign(key, tenant.issuer, { sub: 'user-2' }))).toBe(200)
    expect(verifies).toHaveBeenCalledTimes(3)
    // The remembered token's signature on another payload: a new token, checked, and refused,
    // at its first request and at its second (past the first sighting, looked up: not found).
    const [, , signature] = token.split('.')
    const [header, payload] = (await sign(key, tenant.issuer, { sub: 'admin' })).split('.')
    expect(await status(gw, '/me', `${header}.${payload}.${signature}`)).toBe(401)
    expect(await status(gw, '/me', `${header}.${payload}.${signature}`)).toBe(401)
    expect(verifies).toHaveBeenCalledTimes(5)
  })

  it('a token seen once is not hashed; a repeated one is until its signature is found remembered, then neither hashed nor decoded again', async () => {
    const { tenant, key } = await tenantWithKey()
    const gw = issuerGateway({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl })
    const token = await sign(key, tenant.issuer)
    const digests = vi.spyOn(crypto.subtle, 'digest')
    try {
      const utf8 = new TextDecoder()
      const ofToken = () => digests.mock.calls.filter(([, data]) => utf8.decode(data as Uint8Array) === token)
      // The first request: a first sighting, verified with no lookup.
      expect(await status(gw, '/me', token)).toBe(200)
      expect(ofToken()).toHaveLength(0)
      // The second (verified, remembered) and the third (found remembered: from then on known).
      for (let i = 0; i < 4; i++) expect(await status(gw, '/me', token)).toBe(200)
      expect(ofToken()).toHaveLength(2)
      expect(verifies).toHaveBeenCalledTimes(2)
    } finally {
      digests.mockRestore()
    }
    // Known, its claims are still checked on every request: the next test's refusals come after
    // its token's second request.
  })

  it('a key removed from the JWKS stops its remembered tokens at the refresh that sees it', async () => {
    const { tenant, key: old } = await tenantWithKey()
    const next = await newKey('ES256')
    const clock = stoppedClock()
    const gw = issuerGateway({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, cache: { ttl: 60, cooldown: 1 } }, { runtime: clock })
    const token = await sign(old, tenant.issuer)
    await remembered(gw, '/me', token)
    await tenant.publish(next)
    // Until the keys' TTL the gateway doesn't know (as before remembered signatures).
    await clock.advance(30_000)
    expect(await status(gw, '/me', token)).toBe(200)
    expect(verifies).toHaveBeenCalledTimes(2)
    await clock.advance(31_000)
    expect(await status(gw, '/me', token)).toBe(401)
    expect(gw.logs.at(-1)!.auth).toMatchObject({ outcome: 'invalid', code: 'ERR_JWKS_NO_MATCHING_KEY' })
    expect((await tenant.stats()).jwksFetches).toBe(2)
    expect(await status(gw, '/me', await sign(next, tenant.issuer))).toBe(200)
  })

  it('a JWKS refreshed with the same keys keeps what it verified; a key added to it does not', async () => {
    const { tenant, key } = await tenantWithKey()
    const clock = stoppedClock()
    const gw = issuerGateway({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, cache: { ttl: 60 } }, { runtime: clock })
    const token = await sign(key, tenant.issuer)
    await remembered(gw, '/me', token)
    await clock.advance(61_000)
    expect(await status(gw, '/me', token)).toBe(200)
    expect((await tenant.stats()).jwksFetches).toBe(2)
    expect(verifies).toHaveBeenCalledTimes(2)
    await tenant.publish(key, await newKey('ES256'))
    await clock.advance(61_000)
    expect(await status(gw, '/me', token)).toBe(200)
    expect(verifies).toHaveBeenCalledTimes(3)
  })

  it('a remembered token is refused at its exp on the gateway clock, and checked again within the clock tolerance', async () => {
    const { tenant, key } = await tenantWithKey()
    const start = Date.now()
    const exp = Math.floor(start / 1000) + 60
    const strictClock = stoppedClock(start)
    const strict = issuerGateway({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, clockTolerance: 0 }, { runtime: strictClock })
    const token = await sign(key, tenant.issuer, { iat: Math.floor(start / 1000), exp })
    await remembered(strict, '/me', token)
    expect(await status(strict, '/me', token)).toBe(200)
    await strictClock.advance(exp * 1000 - start - 1)
    expect(await status(strict, '/me', token)).toBe(200)
    expect(verifies).toHaveBeenCalledTimes(2)
    await strictClock.advance(1)
    expect(await status(strict, '/me', token)).toBe(401)
    expect(strict.logs.at(-1)!.auth).toMatchObject({ outcome: 'invalid', code: 'ERR_JWT_EXPIRED' })

    // The default 30 s tolerance accepts the token a little past exp, never from memory.
    const lenientClock = stoppedClock(start)
    const lenient = issuerGateway({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl }, { runtime: lenientClock })
    expect(await status(lenient, '/me', token)).toBe(200)
    await lenientClock.advance(exp * 1000 - start + 10_000)
    verifies.mockClear()
    expect(await status(lenient, '/me', token)).toBe(200)
    expect(await status(lenient, '/me', token)).toBe(200)
    expect(verifies).toHaveBeenCalledTimes(2)
    await lenientClock.advance(20_000)
    expect(await status(lenient, '/me', token)).toBe(401)
  })

  it('a remembered token still fails a route with another audience, a scope it lacks, or a shorter token age', async () => {
    const { tenant, key } = await tenantWithKey()
    const clock = stoppedClock()
    const source = { issuer: tenant.issuer, jwksUrl: tenant.jwksUrl }
    const route = (id: string, issuer: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
      id,
      match: { path: `/${id}` },
      policies: [{ type: 'jwt', issuers: [{ ...source, ...issuer }], ...extra } as never],
      action: { type: 'respond', body: 'ok' } as never,
    })
    const gw = testGateway(
      { routes: [route('api', { audience: 'api' }), route('billing', { audience: 'billing' }), route('admin', { audience: 'api' }, { scopes: ['admin'] }), route('fresh', { maxTokenAge: 60 })] },
      {},
      { runtime: clock },
    )
    const token = await sign(key, tenant.issuer, { aud: 'api', scope: 'read', iat: Math.floor(clock.now() / 1000) })
    await remembered(gw, '/api', token)
    expect(await status(gw, '/fresh', token)).toBe(200)
    expect(verifies).toHaveBeenCalledTimes(2)

    const billing = await gw.fetch('/billing', bearer(token))
    expect(billing.status).toBe(401)
    expect(billing.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    expect(gw.logs.at(-1)!.auth).toMatchObject({ outcome: 'invalid', code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' })
    expect(await status(gw, '/admin', token)).toBe(403)
    expect(gw.logs.at(-1)!.auth).toMatchObject({ outcome: 'forbidden', code: 'ERR_INSUFFICIENT_SCOPE' })
    await clock.advance(120_000)
    expect(await status(gw, '/fresh', token)).toBe(401)
    expect(gw.logs.at(-1)!.auth).toMatchObject({ outcome: 'invalid', code: 'ERR_JWT_EXPIRED' })
    expect(await status(gw, '/api', token)).toBe(200)
    // Every refusal above came from the claims, checked on the remembered signature.
    expect(verifies).toHaveBeenCalledTimes(2)
  })

  it('a token without exp is verified every time (nothing to bound its memory by)', async () => {
    const { tenant, key } = await tenantWithKey()
    const gw = issuerGateway({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, requiredClaims: [] })
    const token = await sign(key, tenant.issuer, { exp: undefined })
    expect(await status(gw, '/me', token)).toBe(200)
    expect(await status(gw, '/me', token)).toBe(200)
    expect(verifies).toHaveBeenCalledTimes(2)
  })

  it('HMAC: a gateway remembers what its own secret verified, never what another\'s did', async () => {
    const issuer = `https://hmac.test/${crypto.randomUUID()}`
    const secret = new TextEncoder().encode('a'.repeat(32))
    const hmac = { issuer, secret: 'JWT_SECRET', audience: 'api' }
    const good = issuerGateway(hmac, { env: { JWT_SECRET: 'a'.repeat(32) } })
    const other = issuerGateway(hmac, { env: { JWT_SECRET: 'b'.repeat(32) } })
    const token = await sign({ alg: 'HS256', secret }, issuer)
    await remembered(good, '/me', token)
    expect(await status(good, '/me', token)).toBe(200)
    expect(verifies).toHaveBeenCalledTimes(2)
    expect(await status(other, '/me', token)).toBe(401)
    expect(await status(other, '/me', token)).toBe(401)
    expect(verifies).toHaveBeenCalledTimes(4)
  })
})
