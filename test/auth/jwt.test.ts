import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { ORIGIN, testGateway, type Echo } from '../support/gateway'
import { bearer, newKey, sign, Tenant } from './tokens'

type JwtOptions = Record<string, unknown>

/** A gateway with a `jwt` route answering who the caller is, and one proxying to the echo origin. */
function gateway(jwt: JwtOptions, extraEnv: Record<string, unknown> = {}, extra: Partial<GatewayConfigInput> = {}) {
  const policy = { type: 'jwt', ...jwt } as never
  return testGateway(
    {
      upstreams: { origin: { url: ORIGIN } },
      consumers: { 'user-1': { plan: 'gold', metadata: { tier: 'a' } } },
      plans: { gold: {} },
      routes: [
        {
          id: 'me',
          match: { path: '/me' },
          policies: [policy],
          action: { type: 'respond', body: { sub: '{claims.sub}', consumer: '{consumer.id}', plan: '{consumer.plan}', via: '{consumer.via}' } },
        },
        { id: 'echo', match: { path: '/echo/*' }, policies: [policy], action: { type: 'proxy', upstream: 'origin' } },
      ],
      ...extra,
    },
    extraEnv,
  )
}

describe('jwt: accepted tokens', () => {
  for (const alg of ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA']) {
    it(`verifies ${alg} against the issuer's JWKS and publishes claims and consumer`, async () => {
      const tenant = new Tenant()
      const key = await newKey(alg)
      await tenant.publish(key)
      const gw = gateway({ issuers: [{ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, audience: 'api' }] })
      const res = await gw.fetch('/me', bearer(await sign(key, tenant.issuer)))
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ sub: 'user-1', consumer: 'user-1', plan: 'gold', via: 'jwt' })
      expect(gw.logs[0]).toMatchObject({ consumer: 'user-1', auth: { via: 'jwt', outcome: 'ok', issuer: tenant.issuer } })
    })
  }

  it('verifies HS256 with a secret read from a Worker secret', async () => {
    const secret = 'a-very-long-hmac-secret-of-at-least-32-bytes'
    const gw = gateway({ issuers: [{ issuer: 'https://hs.example', secret: 'JWT_HS_SECRET' }] }, { JWT_HS_SECRET: secret })
    const token = await sign({ alg: 'HS256', secret: new TextEncoder().encode(secret) }, 'https://hs.example')
    expect((await gw.fetch('/me', bearer(token))).status).toBe(200)
    const wrong = await sign({ alg: 'HS256', secret: new TextEncoder().encode(`${secret}-other`) }, 'https://hs.example')
    expect((await gw.fetch('/me', bearer(wrong))).status).toBe(401)
  })

  it('finds the keys through OIDC discovery', async () => {
    const tenant = new Tenant()
    const key = await newKey('RS256')
    await tenant.publish(key)
    const gw = gateway({ issuers: [{ issuer: tenant.issuer, discovery: true }] })
    expect((await gw.fetch('/me', bearer(await sign(key, tenant.issuer)))).status).toBe(200)
    expect(await tenant.stats()).toEqual({ discoveryFetches: 1, jwksFetches: 1 })
  })

  it('rejects discovery whose issuer differs from the configured one: 503, keys never fetched', async () => {
    const tenant = new Tenant()
    const key = await newKey('RS256')
    await tenant.publish(key)
    await tenant.discovery({ issuer: 'https://evil.example', jwks_uri: tenant.jwksUrl })
    const gw = gateway({ issuers: [{ issuer: tenant.issuer, discovery: true }] })
    const res = await gw.fetch('/me', bearer(await sign(key, tenant.issuer)))
    expect(res.status).toBe(503)
    expect(((await res.json()) as { code: string }).code).toBe('ERR_AUTH_UNAVAILABLE')
    expect((await tenant.stats()).jwksFetches).toBe(0)
  })

  it('verifies with static public keys from secrets (JWK and PEM)', async () => {
    const { exportSPKI } = await import('jose')
    const jwkKey = await newKey('ES256')
    const pemKey = await newKey('RS256')
    const gw = gateway(
      { issuers: [{ issuer: 'https://static.example', keys: [{ secret: 'PUB_JWK' }, { secret: 'PUB_PEM', alg: 'RS256', kid: pemKey.kid }] }] },
      { PUB_JWK: JSON.stringify(jwkKey.jwk), PUB_PEM: await exportSPKI(pemKey.publicKey) },
    )
    expect((await gw.fetch('/me', bearer(await sign(jwkKey, 'https://static.example')))).status).toBe(200)
    expect((await gw.fetch('/me', bearer(await sign(pemKey, 'https://static.example')))).status).toBe(200)
  })

  it('picks the issuer by iss and verifies with that issuer\'s keys only', async () => {
    const [a, b] = [new Tenant(), new Tenant()]
    const [keyA, keyB] = [await newKey('ES256'), await newKey('ES256')]
    await a.publish(keyA)
    await b.publish(keyB)
    const gw = gateway({ issuers: [{ issuer: a.issuer, jwksUrl: a.jwksUrl }, { issuer: b.issuer, jwksUrl: b.jwksUrl }] })
    expect((await gw.fetch('/me', bearer(await sign(keyA, a.issuer)))).status).toBe(200)
    expect((await gw.fetch('/me', bearer(await sign(keyB, b.issuer)))).status).toBe(200)
    // B's key claiming to be A: verified against A's keys, which don't include it.
    expect((await gw.fetch('/me', bearer(await sign(keyB, a.issuer)))).status).toBe(401)
    expect(gw.logs[2]!.auth).toMatchObject({ outcome: 'invalid', issuer: a.issuer })
  })

  it('takes the token from a configured header or cookie', async () => {
    const tenant = new Tenant()
    const key = await newKey('ES256')
    await tenant.publish(key)
    const token = await sign(key, tenant.issuer)
    const viaHeader = gateway({ issuers: [{ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl }], token: { header: 'X-Token' } })
    expect((await viaHeader.fetch('/me', { headers: { 'x-token': token } })).status).toBe(200)
    const viaCookie = gateway({ issuers: [{ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl }], token: { cookie: 'session' } })
    expect((await viaCookie.fetch('/me', { headers: { cookie: `theme=dark; session=${token}` } })).status).toBe(200)
    expect((await viaCookie.fetch('/me', { headers: { cookie: 'theme=dark' } })).status).toBe(401)
  })
})

describe('jwt: scopes', () => {
  async function setup(scopesMatch: 'all' | 'any') {
    const tenant = new Tenant()
    const key = await newKey('ES256')
    await tenant.publish(key)
    const gw = gateway({ issuers: [{ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl }], scopes: ['orders:read', 'orders:write'], scopesMatch })
    return { gw, token: (claims: Record<string, unknown>) => sign(key, tenant.issuer, claims) }
  }

  it('all-of: needs every scope, from `scope` or `scp`; 403 names them', async () => {
    const { gw, token } = await setup('all')
    expect((await gw.fetch('/me', bearer(await token({ scope: 'orders:read orders:write' })))).status).toBe(200)
    expect((await gw.fetch('/me', bearer(await token({ scp: ['orders:write', 'orders:read'] })))).status).toBe(200)
    const res = await gw.fetch('/me', bearer(await token({ scope: 'orders:read' })))
    expect(res.status).toBe(403)
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope", scope="orders:read orders:write"')
    expect(await res.json()).toMatchObject({ code: 'ERR_INSUFFICIENT_SCOPE', scopes: ['orders:read', 'orders:write'] })
  })

  it('any-of: one scope is enough', async () => {
    const { gw, token } = await setup('any')
    expect((await gw.fetch('/me', bearer(await token({ scope: 'orders:write' })))).status).toBe(200)
    expect((await gw.fetch('/me', bearer(await token({ scope: 'profile' })))).status).toBe(403)
  })
})

describe('jwt: identity forwarding', () => {
  it('sends configured claims as headers, which the client cannot spoof', async () => {
    const tenant = new Tenant()
    const key = await newKey('ES256')
    await tenant.publish(key)
    const gw = gateway({
      issuers: [{ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl }],
      forwardClaims: { 'X-User-Id': 'sub', 'X-Org': 'org.id', 'X-Email': 'email', 'X-Name': 'name' },
      removeAuthorization: true,
    })
    const token = await sign(key, tenant.issuer, { sub: 'user-7', org: { id: 42 }, name: 'Zoë\r\nX-Admin: 1' })
    const res = await gw.fetch('/echo/x', {
      headers: { authorization: `Bearer ${token}`, 'x-user-id': 'admin', 'X-Email': 'spoof@example.com', 'x-org': '1' },
    })
    expect(res.status).toBe(200)
    const echo = (await res.json()) as Echo
    expect(echo.headers['x-user-id']).toBe('user-7')
    expect(echo.headers['x-org']).toBe('42')
    // A claim the token doesn't carry: the client's header is still gone.
    expect(echo.headers['x-email']).toBeUndefined()
    expect(echo.headers['x-name']).toBe('Zo%C3%AB%0D%0AX-Admin: 1')
    expect(echo.headers['x-admin']).toBeUndefined()
    expect(echo.headers.authorization).toBeUndefined()
  })

  it('keeps Authorization by default', async () => {
    const tenant = new Tenant()
    const key = await newKey('ES256')
    await tenant.publish(key)
    const gw = gateway({ issuers: [{ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl }] })
    const token = await sign(key, tenant.issuer)
    const echo = (await (await gw.fetch('/echo/x', bearer(token))).json()) as Echo
    expect(echo.headers.authorization).toBe(`Bearer ${token}`)
  })
})
