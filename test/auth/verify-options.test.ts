/**
 * Issuer options that change what a token must be: `maxTokenAge`, a configured `clockTolerance`,
 * the consumer from `client_id` or `consumerClaim`, and the `maxStale` bound on keys kept while
 * the identity provider is down. Real tokens, real JWKS from the test issuer.
 */
import { describe, expect, it } from 'vitest'
import { testGateway } from '../support/gateway'
import type { Runtime } from '../../src/core/runtime'
import { manualRuntime, stoppedClock } from '../support/runtime'
import { issuerGateway } from './helpers'
import { bearer, newKey, sign, Tenant } from './tokens'

const gateway = (issuer: Record<string, unknown>, runtime?: Runtime) => issuerGateway(issuer, { runtime }, { consumer: '{consumer.id}' })

async function tenantWithKey() {
  const tenant = new Tenant()
  const key = await newKey('ES256')
  await tenant.publish(key)
  return { tenant, key, source: { issuer: tenant.issuer, jwksUrl: tenant.jwksUrl } }
}

const now = () => Math.floor(Date.now() / 1000)

describe('token age and clock tolerance', () => {
  it('maxTokenAge: a token issued too long ago, or without iat, is 401', async () => {
    const { tenant, key, source } = await tenantWithKey()
    const gw = gateway({ ...source, maxTokenAge: 60 })
    expect((await gw.fetch('/me', bearer(await sign(key, tenant.issuer, { iat: now() - 10 })))).status).toBe(200)
    const old = await gw.fetch('/me', bearer(await sign(key, tenant.issuer, { iat: now() - 600 })))
    expect(old.status).toBe(401)
    expect(old.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    // jose reports a too-old iat as expiry (JWTExpired, claim "iat"), a missing one as a claim failure.
    expect(gw.logs[1]!.auth).toMatchObject({ outcome: 'invalid', code: 'ERR_JWT_EXPIRED' })
    const noIat = await gw.fetch('/me', bearer(await sign(key, tenant.issuer, { iat: undefined })))
    expect(noIat.status).toBe(401)
    expect(gw.logs[2]!.auth).toMatchObject({ outcome: 'invalid', code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' })
  })

  it('an iat in the future beyond clockTolerance is 401 without maxTokenAge; within it, 200', async () => {
    const { tenant, key, source } = await tenantWithKey()
    const gw = gateway(source)
    const future = await gw.fetch('/me', bearer(await sign(key, tenant.issuer, { iat: now() + 3600, exp: now() + 7200 })))
    expect(future.status).toBe(401)
    expect(future.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    expect(gw.logs[0]!.auth).toMatchObject({ outcome: 'invalid', code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' })
    expect((await gw.fetch('/me', bearer(await sign(key, tenant.issuer, { iat: now() + 10 })))).status).toBe(200)
    // On the gateway's clock, not the machine's: the same token is fine once the clock catches up.
    const clock = manualRuntime({ timers: 'real', start: Date.now() + 3_600_000 })
    const later = gateway(source, clock)
    expect((await later.fetch('/me', bearer(await sign(key, tenant.issuer, { iat: now() + 3600, exp: now() + 7200 })))).status).toBe(200)
  })

  it('clockTolerance 0: a token that expired 5 s ago is 401 (the default 30 s tolerance would take it)', async () => {
    const { tenant, key, source } = await tenantWithKey()
    const token = await sign(key, tenant.issuer, { iat: now() - 60, exp: now() - 5 })
    const strict = gateway({ ...source, clockTolerance: 0 })
    expect((await strict.fetch('/me', bearer(token))).status).toBe(401)
    expect(strict.logs[0]!.auth).toMatchObject({ outcome: 'invalid', code: 'ERR_JWT_EXPIRED' })
    expect((await gateway(source).fetch('/me', bearer(token))).status).toBe(200)
  })
})

describe('the consumer of a token', () => {
  it('is client_id when there is no sub (client-credentials tokens)', async () => {
    const { tenant, key, source } = await tenantWithKey()
    const res = await gateway(source).fetch('/me', bearer(await sign(key, tenant.issuer, { sub: undefined, client_id: 'billing-service' })))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ consumer: 'billing-service' })
  })

  it('is the consumerClaim path when configured, ahead of sub', async () => {
    const { tenant, key, source } = await tenantWithKey()
    const gw = gateway({ ...source, consumerClaim: 'org.id' })
    const res = await gw.fetch('/me', bearer(await sign(key, tenant.issuer, { sub: 'user-1', org: { id: 'acme-corp' } })))
    expect(await res.json()).toEqual({ consumer: 'acme-corp' })
    expect(gw.logs[0]!.consumer).toBe('acme-corp')
    // Without the claim the token names no consumer: refused by default (see the next test).
    const none = await gw.fetch('/me', bearer(await sign(key, tenant.issuer, { sub: 'user-1' })))
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toBe(`Bearer error="invalid_token", error_description="the token has no 'org.id' claim naming its consumer"`)
  })

  it('a token naming no consumer is 401 by default; requireConsumer: false lets it through with none', async () => {
    const { tenant, key, source } = await tenantWithKey()
    const token = await sign(key, tenant.issuer, { sub: undefined })
    const gw = gateway(source)
    const res = await gw.fetch('/me', bearer(token))
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe(`Bearer error="invalid_token", error_description="the token has no 'sub' or 'client_id' claim naming its consumer"`)
    expect(gw.logs[0]!.auth).toMatchObject({ outcome: 'invalid', code: 'ERR_JWT_NO_CONSUMER', issuer: tenant.issuer })
    expect(gw.logs[0]!.consumer).toBeUndefined()
    const lenient = testGateway({
      routes: [{ id: 'me', match: { path: '/me' }, policies: [{ type: 'jwt', issuers: [source], requireConsumer: false }], action: { type: 'respond', body: 'ok' } }],
    })
    expect((await lenient.fetch('/me', bearer(token))).status).toBe(200)
    expect(lenient.logs[0]!.consumer).toBeUndefined()
  })
})

describe('maxStale', () => {
  it('keys past ttl + maxStale are not used while the IdP is down: 503, not the stale keys', async () => {
    const { tenant, key, source } = await tenantWithKey()
    // The gateway's clock moves only when the test says (its timers stay real, as the IdP is).
    const clock = stoppedClock()
    const gw = gateway({ ...source, cache: { ttl: 0, cooldown: 1, maxStale: 1 } }, clock)
    expect((await gw.fetch('/me', bearer(await sign(key, tenant.issuer)))).status).toBe(200)
    await tenant.mode('down')
    await clock.advance(1200) // past ttl (0) + maxStale (1 s) and the 1 s cooldown
    const res = await gw.fetch('/me', bearer(await sign(key, tenant.issuer)))
    expect(res.status).toBe(503)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(((await res.json()) as { code: string }).code).toBe('ERR_AUTH_UNAVAILABLE')
    expect(res.headers.get('retry-after')).toBe('1')
    expect((await tenant.stats()).jwksFetches).toBe(2) // it tried again before giving up
  })
})

describe('an issuer naming an unset Worker variable', () => {
  it('a token no issuer matches is a 503 config problem (logged), not a 401; the other issuers keep working', async () => {
    const { tenant, key, source } = await tenantWithKey()
    const other = await tenantWithKey()
    const gw = testGateway({
      routes: [
        {
          id: 'me',
          match: { path: '/me' },
          policies: [{ type: 'jwt', issuers: [{ issuer: '${NO_SUCH_ISSUER_VAR}', jwksUrl: tenant.jwksUrl }, other.source] }],
          action: { type: 'respond', body: 'ok' },
        },
      ],
    })
    const res = await gw.fetch('/me', bearer(await sign(key, source.issuer)))
    expect(res.status).toBe(503)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(((await res.json()) as { code: string }).code).toBe('ERR_AUTH_UNAVAILABLE')
    expect(gw.logs[0]!.auth).toMatchObject({ outcome: 'unavailable', code: 'ERR_AUTH_ISSUER_UNRESOLVED' })
    expect(gw.logs[0]!.errorCause).toBe('routes[0].policies[0].issuers[0].issuer: Worker variable "NO_SUCH_ISSUER_VAR" is not set')
    expect((await gw.fetch('/me', bearer(await sign(other.key, other.source.issuer)))).status).toBe(200)
  })
})
