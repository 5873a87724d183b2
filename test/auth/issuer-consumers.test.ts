/**
 * Consumers across several trusted issuers: a token's subject is unique only within its issuer.
 * Real tokens signed in workerd, real JWKS from the test issuer, real `RateLimiter` objects.
 *
 * - the same `sub` at two issuers counts apart (and the admin API finds each key);
 * - a configured consumer pinned to an issuer is not who another issuer's same `sub` is;
 * - a configured consumer's API key and tokens share one plan counter;
 * - a bad `consumers.<id>.issuer` fails validation at its path.
 */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { sha256Hex, testGateway } from '../support/gateway'
import { tokenConsumerKey, used } from '../rate-limit/helpers'
import { bearer, newKey, sign, Tenant, type TestKey } from './tokens'
import { configProblems } from '../support/config'

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}` }

/** A test-issuer tenant with one published RS256 key, and its issuer config for a `jwt` policy. */
async function newIssuer(): Promise<{ tenant: Tenant; key: TestKey; config: { issuer: string; jwksUrl: string; audience: string } }> {
  const tenant = new Tenant()
  const key = await newKey('RS256')
  await tenant.publish(key)
  return { tenant, key, config: { issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, audience: 'api' } }
}

/** Object names are shared by every test in a file: each test gets its own subject / consumer name. */
const fresh = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`

const WHO = { id: '{consumer.id}', issuer: '{consumer.issuer}', plan: '{consumer.plan}', tier: '{consumer.metadata.tier}' }

describe('the same sub at two issuers', () => {
  it('counts apart: one exhausted, the other still admitted; the admin API reads and resets each', async () => {
    const [a, b] = [await newIssuer(), await newIssuer()]
    const sub = fresh('alice')
    const gw = testGateway({
      routes: [
        {
          id: 'who',
          match: { path: '/who' },
          policies: [
            { type: 'jwt', issuers: [a.config, b.config] },
            // Exact: a reset is seen at once (with leases, a gateway denying locally sees it within 5 s).
            { type: 'rate-limit', mode: 'exact', by: ['consumer'], limits: [{ name: 'hourly', limit: 2, window: 3600 }] },
          ],
          action: { type: 'respond', body: WHO },
        },
      ],
    })
    const fromA = bearer(await sign(a.key, a.config.issuer, { sub }))
    const fromB = bearer(await sign(b.key, b.config.issuer, { sub }))

    const first = await gw.fetch('/who', fromA)
    expect(first.status).toBe(200)
    // Templates and the log line show the plain id; the issuer is beside it.
    expect(await first.json()).toEqual({ id: sub, issuer: a.config.issuer })
    expect(gw.logs[0]).toMatchObject({ consumer: sub, auth: { via: 'jwt', outcome: 'ok', issuer: a.config.issuer } })
    expect((await gw.fetch('/who', fromA)).status).toBe(200)
    const denied = await gw.fetch('/who', fromA)
    expect(denied.status).toBe(429)
    expect(await denied.json()).toMatchObject({ code: 'ERR_RATE_LIMITED', limit: 'hourly' })

    // B's alice is someone else: her own counter, untouched by A's.
    const other = await gw.fetch('/who', fromB)
    expect(other.status).toBe(200)
    expect(other.headers.get('ratelimit')).toBe('"hourly";r=1;t=3600')
    expect(await other.json()).toMatchObject({ id: sub, issuer: b.config.issuer })

    // The documented key shape: `consumer=` + the URI-encoded `<sub>@<iss>`.
    const keyA = tokenConsumerKey(sub, a.config.issuer)
    expect(await used(keyA, 'route:who/hourly')).toBe(2)
    // Nothing counted under the plain id, which belongs to a configured consumer of that name.
    expect(await used(`consumer=${sub}`, 'route:who/hourly')).toBe(0)

    const q = (iss: string) => `consumer=${encodeURIComponent(sub)}&issuer=${encodeURIComponent(iss)}`
    const read = await gw.fetch(`/_edgeway/rate-limits?${q(a.config.issuer)}`, { headers: ADMIN })
    expect(read.status).toBe(200)
    expect(await read.json()).toMatchObject({ key: keyA, counters: [expect.objectContaining({ id: 'route:who/hourly', count: 2 })] })
    const readB = (await (await gw.fetch(`/_edgeway/rate-limits?${q(b.config.issuer)}`, { headers: ADMIN })).json()) as { counters: { count: number }[] }
    expect(readB.counters).toEqual([expect.objectContaining({ id: 'route:who/hourly', count: 1 })])

    const reset = await gw.fetch(`/_edgeway/rate-limits?${q(a.config.issuer)}`, { method: 'DELETE', headers: ADMIN })
    expect(await reset.json()).toMatchObject({ key: keyA, reset: true })
    expect((await gw.fetch('/who', fromA)).status).toBe(200)
    expect(await used(tokenConsumerKey(sub, b.config.issuer), 'route:who/hourly')).toBe(1)
  })

  it("a sub with an `@` can't pose as another issuer's subject", async () => {
    const [a, b] = [await newIssuer(), await newIssuer()]
    // Unescaped, A's `bob@x` (`bob@x@<A>`) would be B's `bob` when B's `iss` is `x@<A>`.
    const bIss = `x@${a.config.issuer}`
    const sub = fresh('bob')
    const gw = testGateway({
      routes: [
        {
          id: 'r',
          match: { path: '/r' },
          policies: [
            { type: 'jwt', issuers: [a.config, { ...b.config, issuer: bIss }] },
            { type: 'rate-limit', by: ['consumer'], limits: [{ name: 'one', limit: 1, window: 3600 }] },
          ],
          action: { type: 'respond' },
        },
      ],
    })
    expect((await gw.fetch('/r', bearer(await sign(b.key, bIss, { sub })))).status).toBe(200)
    expect((await gw.fetch('/r', bearer(await sign(a.key, a.config.issuer, { sub: `${sub}@x` })))).status).toBe(200)
    expect((await gw.fetch('/r', bearer(await sign(b.key, bIss, { sub })))).status).toBe(429)
  })
})

describe('a configured consumer with an issuer', () => {
  it('is only that issuer\'s subject: the same sub from another issuer gets no plan and no metadata', async () => {
    const [a, b] = [await newIssuer(), await newIssuer()]
    const name = fresh('acme')
    const gw = testGateway({
      plans: { tight: { limits: [{ name: 'tight', limit: 1, window: 3600 }] } },
      consumers: { [name]: { plan: 'tight', issuer: a.config.issuer, metadata: { tier: 'gold' } } },
      routes: [
        {
          id: 'who',
          match: { path: '/who' },
          policies: [{ type: 'jwt', issuers: [a.config, b.config] }, { type: 'rate-limit', plans: true }],
          action: { type: 'respond', body: WHO },
        },
      ],
    })
    const fromA = bearer(await sign(a.key, a.config.issuer, { sub: name }))
    const fromB = bearer(await sign(b.key, b.config.issuer, { sub: name }))

    const own = await gw.fetch('/who', fromA)
    expect(own.status).toBe(200)
    expect(own.headers.get('ratelimit-policy')).toBe('"tight";q=1;w=3600')
    expect(await own.json()).toEqual({ id: name, issuer: a.config.issuer, plan: 'tight', tier: 'gold' })
    expect((await gw.fetch('/who', fromA)).status).toBe(429)

    // B's token with the same sub: an unknown consumer, so no plan limit applies at all.
    for (let i = 0; i < 3; i++) {
      const res = await gw.fetch('/who', fromB)
      expect(res.status).toBe(200)
      expect(res.headers.get('ratelimit-policy')).toBeNull()
      expect(await res.json()).toEqual({ id: name, issuer: b.config.issuer })
    }
    // The configured consumer keeps its plain key; the stranger never touched it.
    expect(await used(`consumer=${name}`, 'plan/tight')).toBe(1)
  })
})

describe('a configured consumer without an issuer', () => {
  it('shares one plan counter between its API key and its tokens, from any trusted issuer', async () => {
    const [a, b] = [await newIssuer(), await newIssuer()]
    const name = fresh('globex')
    const apiKey = `${name}-key-0123456789abcdef`
    const gw = testGateway(
      {
        plans: { small: { quotas: [{ name: 'daily', limit: 4, period: 'day' }] } },
        consumers: { [name]: { plan: 'small', apiKeySecrets: ['GLOBEX_KEY_HASH'] } },
        routes: [
          { id: 'key', match: { path: '/key' }, policies: [{ type: 'api-key' }, { type: 'rate-limit', plans: true }], action: { type: 'respond', body: WHO } },
          { id: 'jwt', match: { path: '/jwt' }, policies: [{ type: 'jwt', issuers: [a.config, b.config] }, { type: 'rate-limit', plans: true }], action: { type: 'respond', body: WHO } },
        ],
      },
      { GLOBEX_KEY_HASH: await sha256Hex(apiKey) },
    )
    const withKey = { headers: { 'x-api-key': apiKey } }
    const fromA = bearer(await sign(a.key, a.config.issuer, { sub: name }))
    const fromB = bearer(await sign(b.key, b.config.issuer, { sub: name }))

    expect((await gw.fetch('/key', withKey)).status).toBe(200)
    const viaToken = await gw.fetch('/jwt', fromA)
    expect(viaToken.status).toBe(200)
    // The token's request is the consumer's second of the day: the API key's counted too.
    expect(viaToken.headers.get('ratelimit')).toMatch(/^"daily";r=2;t=\d+$/)
    expect(await viaToken.json()).toMatchObject({ id: name, plan: 'small' })
    expect((await gw.fetch('/jwt', fromB)).status).toBe(200)
    expect((await gw.fetch('/key', withKey)).status).toBe(200)
    expect(await used(`consumer=${name}`, 'plan/daily')).toBe(4)

    // The one allowance is spent, whichever credential asks next.
    for (const [path, init] of [['/key', withKey], ['/jwt', fromA], ['/jwt', fromB]] as const) {
      const res = await gw.fetch(path, init)
      expect(res.status).toBe(429)
      expect(await res.json()).toMatchObject({ code: 'ERR_QUOTA_EXCEEDED', limit: 'daily' })
    }
  })
})

describe('consumers.<id>.issuer validation', () => {
  const problems = (consumers: GatewayConfigInput['consumers']) => configProblems({ consumers, routes: [{ id: 'r', match: { path: '/' }, action: { type: 'respond' } }] })

  it('accepts an issuer URL, and names the field of a bad one', () => {
    expect(problems({ acme: { issuer: 'https://login.example.com/' } })).toEqual([])
    expect(problems({ acme: { issuer: 'login.example.com' } })).toEqual(['consumers.acme.issuer: must be a URL (the exact "iss" value of the issuer)'])
    expect(problems({ acme: {}, 'b.c': { plan: undefined, issuer: '' } })).toEqual(['consumers["b.c"].issuer: must be a URL (the exact "iss" value of the issuer)'])
    expect(problems({ acme: { issuer: 42 as never } })[0]).toMatch(/^consumers\.acme\.issuer: /)
  })
})
