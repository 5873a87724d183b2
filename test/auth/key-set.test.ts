/**
 * The key-set fetcher against a real issuer: rotation, the unknown-kid cooldown under a flood,
 * last good keys while the JWKS endpoint is down, fail-closed with no keys, the size cap.
 * Cooldowns and TTLs pass on a runtime's clock the test moves (`advance`), never by sleeping; its
 * timers stay real, as the issuer behind the key set is.
 */
import { describe, expect, it } from 'vitest'
import type { Runtime } from '../../src/core/runtime'
import { manualRuntime, stoppedClock } from '../support/runtime'
import { issuerGateway } from './helpers'
import { bearer, newKey, sign, Tenant } from './tokens'

const gateway = (issuer: Record<string, unknown>, runtime?: Runtime) => issuerGateway(issuer, { runtime })

/** A tenant publishing one new key, and a gateway that trusts it, on a clock the test moves. */
async function trustedTenant(alg: 'ES256' | 'RS256', cache: Record<string, unknown>) {
  const tenant = new Tenant()
  const key = await newKey(alg)
  await tenant.publish(key)
  const clock = stoppedClock()
  return { tenant, key, clock, gw: gateway({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, cache }, clock) }
}

describe('key set', () => {
  it('rotation: a token with a new kid passes after one refetch; keys are cached in between', async () => {
    const tenant = new Tenant()
    const [k1, k2] = [await newKey('ES256'), await newKey('ES256')]
    await tenant.publish(k1)
    const clock = stoppedClock()
    const gw = gateway({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, cache: { cooldown: 1 } }, clock)
    for (let i = 0; i < 3; i++) expect((await gw.fetch('/me', bearer(await sign(k1, tenant.issuer)))).status).toBe(200)
    expect((await tenant.stats()).jwksFetches).toBe(1)
    await tenant.publish(k1, k2)
    await clock.advance(1100) // past the cooldown of the first fetch
    expect((await gw.fetch('/me', bearer(await sign(k2, tenant.issuer)))).status).toBe(200)
    expect((await gw.fetch('/me', bearer(await sign(k1, tenant.issuer)))).status).toBe(200)
    expect((await tenant.stats()).jwksFetches).toBe(2)
  })

  it('100 concurrent requests with random unknown kids cause at most one fetch per cooldown', async () => {
    const { tenant, key: known, clock, gw } = await trustedTenant('ES256', { cooldown: 2 })
    expect((await gw.fetch('/me', bearer(await sign(known, tenant.issuer)))).status).toBe(200)
    await clock.advance(2100) // past the warm-up fetch's cooldown
    // The issuer answers slowly, so many requests find the refetch still running.
    await tenant.mode('ok', 200)
    const attackerKey = await newKey('ES256')
    const tokens = await Promise.all(Array.from({ length: 100 }, () => sign({ ...attackerKey, kid: crypto.randomUUID() }, tenant.issuer)))
    const statuses = await Promise.all(tokens.map(async (token) => (await gw.fetch('/me', bearer(token))).status))
    expect(statuses.every((s) => s === 401)).toBe(true)
    expect((await tenant.stats()).jwksFetches).toBe(2) // the warm-up, then one refetch
    // A second wave inside the cooldown fetches nothing.
    await Promise.all(tokens.slice(0, 20).map((token) => gw.fetch('/me', bearer(token))))
    expect((await tenant.stats()).jwksFetches).toBe(2)
    // The legitimate key still works throughout.
    expect((await gw.fetch('/me', bearer(await sign(known, tenant.issuer)))).status).toBe(200)
  })

  it('concurrent first requests share one fetch (cold start)', async () => {
    const tenant = new Tenant()
    const key = await newKey('ES256')
    await tenant.publish(key)
    await tenant.mode('ok', 100)
    const gw = gateway({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl })
    const token = await sign(key, tenant.issuer)
    const statuses = await Promise.all(Array.from({ length: 20 }, async () => (await gw.fetch('/me', bearer(token))).status))
    expect(statuses).toEqual(Array(20).fill(200))
    expect((await tenant.stats()).jwksFetches).toBe(1)
  })

  it('JWKS endpoint down: cached keys keep working past their TTL', async () => {
    const { tenant, key, clock, gw } = await trustedTenant('RS256', { ttl: 0, cooldown: 1, maxStale: 600 })
    expect((await gw.fetch('/me', bearer(await sign(key, tenant.issuer)))).status).toBe(200)
    await tenant.mode('down')
    await clock.advance(1100) // past the TTL (0) and the first fetch's cooldown
    const res = await gw.fetch('/me', bearer(await sign(key, tenant.issuer)))
    expect(res.status).toBe(200)
    expect((await tenant.stats()).jwksFetches).toBe(2) // it did try, and kept the last good keys
  })

  it('no keys at all: 503 problem+json, distinct from a bad token', async () => {
    const tenant = new Tenant()
    const key = await newKey('RS256')
    await tenant.publish(key)
    await tenant.mode('down')
    const gw = gateway({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl })
    const res = await gw.fetch('/me', bearer(await sign(key, tenant.issuer)))
    expect(res.status).toBe(503)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(res.headers.get('retry-after')).toBe('5') // the cooldown (default 5 s since issue 14; was 30)
    expect(await res.json()).toMatchObject({ code: 'ERR_AUTH_UNAVAILABLE', detail: 'Tokens cannot be verified right now.' })
    expect(gw.logs[0]!.auth).toMatchObject({ outcome: 'unavailable', code: 'ERR_AUTH_NO_KEYS' })
    // Within the cooldown the issuer is not asked again.
    expect((await gw.fetch('/me', bearer(await sign(key, tenant.issuer)))).status).toBe(503)
    expect((await tenant.stats()).jwksFetches).toBe(1)
    // A bad token is still a 401 only when keys exist; garbage is a 401 either way.
    expect((await gw.fetch('/me', bearer('a.b.c'))).status).toBe(401)
  })

  it('an oversized or malformed JWKS is refused (503 with no keys)', async () => {
    for (const mode of ['huge', 'garbage'] as const) {
      const tenant = new Tenant()
      const key = await newKey('ES256')
      await tenant.publish(key)
      await tenant.mode(mode)
      const gw = gateway({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, cache: { maxBytes: 16_384 } })
      expect((await gw.fetch('/me', bearer(await sign(key, tenant.issuer)))).status).toBe(503)
    }
  })

  it('a hanging JWKS endpoint: 503 once the default 2 s timeout passes on the gateway\'s clock', async () => {
    const tenant = new Tenant()
    const key = await newKey('ES256')
    await tenant.publish(key)
    await tenant.mode('ok', 10_000) // the issuer holds the answer back (real time, cut short by the abort)
    const clock = manualRuntime() // its timers fire only when the test moves the clock
    const gw = gateway({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl }, clock)
    const pending = gw.fetch('/me', bearer(await sign(key, tenant.issuer)))
    await clock.until(() => clock.pendingTimers() > 0) // the fetch's timeout timer is set
    expect(clock.nextTimerIn()).toBe(2_000)
    await clock.advance(2_000)
    const res = await pending
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('5')
  })

  it('a key published and used at once is accepted after the short default cooldown (5 s, not 30)', async () => {
    const { tenant, key: k1, clock, gw } = await trustedTenant('ES256', {})
    const k2 = await newKey('ES256')
    expect((await gw.fetch('/me', bearer(await sign(k1, tenant.issuer)))).status).toBe(200)
    await tenant.publish(k1, k2)
    // Inside the cooldown of the first fetch the new kid can't trigger another: 401.
    await clock.advance(1_000)
    expect((await gw.fetch('/me', bearer(await sign(k2, tenant.issuer)))).status).toBe(401)
    await clock.advance(4_000) // 5 s after the first fetch
    expect((await gw.fetch('/me', bearer(await sign(k2, tenant.issuer)))).status).toBe(200)
    expect((await tenant.stats()).jwksFetches).toBe(2)
  })

  it('an unknown kid while the refetch fails is 503 with Retry-After, not 401; known keys keep working', async () => {
    const { tenant, key: k1, clock, gw } = await trustedTenant('ES256', {})
    const k2 = await newKey('ES256')
    expect((await gw.fetch('/me', bearer(await sign(k1, tenant.issuer)))).status).toBe(200)
    await tenant.mode('down')
    await clock.advance(5_000)
    const res = await gw.fetch('/me', bearer(await sign(k2, tenant.issuer)))
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('5')
    expect(gw.logs[1]!.auth).toMatchObject({ outcome: 'unavailable', code: 'ERR_AUTH_KEYS_REFRESH_FAILED' })
    // Within the cooldown: no new fetch, still 503 for the unknown kid; the cached key still passes.
    expect((await gw.fetch('/me', bearer(await sign(k2, tenant.issuer)))).status).toBe(503)
    expect((await gw.fetch('/me', bearer(await sign(k1, tenant.issuer)))).status).toBe(200)
    expect((await tenant.stats()).jwksFetches).toBe(2)
    // The IdP recovers with the new key: after the cooldown it is accepted.
    await tenant.publish(k1, k2)
    await tenant.mode('ok')
    await clock.advance(5_000)
    expect((await gw.fetch('/me', bearer(await sign(k2, tenant.issuer)))).status).toBe(200)
  })

  it('an unreachable issuer: 503, never a 500', async () => {
    const key = await newKey('ES256')
    const gw = gateway({ issuer: 'http://127.0.0.1:9/nowhere', jwksUrl: 'http://127.0.0.1:9/jwks', cache: { timeout: 500 } })
    const res = await gw.fetch('/me', bearer(await sign(key, 'http://127.0.0.1:9/nowhere')))
    expect(res.status).toBe(503)
  })
})
