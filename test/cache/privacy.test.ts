/**
 * Privacy: whose response goes to whom. The matrix is scope (unset, public, consumer) x where the
 * credential is (Authorization, cookie, API key header, API key query parameter) x what the origin
 * sends (no cache headers, `private`, `public` without `Vary`). User A asks, then user B, then A.
 *
 * Credentials are real: tokens signed by the test issuer and verified by the `jwt` policy (from the
 * Authorization header or a cookie), API keys checked by the `api-key` policy (hashes in Worker
 * secrets, or in KV). A stand-in auth policy (registered only in this file) remains for the one
 * thing the real policies can't do: let an anonymous request through to the same route (optional
 * authentication), to show anonymous and consumer entries never mix.
 */
import * as v from 'valibot'
import { describe, expect, it } from 'vitest'
import { cacheRequest, compileKey, consumerPartition } from '../../src/http-cache/key'
import type { GatewayConfigInput } from '../../src/config/schema'
import { loadConfig } from '../../src/config/parse'
import { POLICY_DEFINITIONS } from '../../src/config/policies'
import { configKeys, consumerId, kvKey, newIssuer, type Issuer } from '../integration/identity'
import { originConfig, parsedGateway, testGateway, type Echo } from '../support/gateway'
import { setClock, tokenConsumerKey, used } from '../rate-limit/helpers'
import { cacheStatus, seq, tagged } from './helpers'

type Placement = 'authorization' | 'cookie' | 'api-key-header' | 'api-key-query'
type OriginSends = 'nothing' | 'private' | 'public'
type Scope = 'unset' | 'public' | 'consumer'
type Who = 'A' | 'B'
type PolicyInput = NonNullable<GatewayConfigInput['routes'][number]['policies']>[number]

const PLACEMENTS: Placement[] = ['authorization', 'cookie', 'api-key-header', 'api-key-query']
const ORIGIN_SENDS: Record<OriginSends, string> = { nothing: '', private: 'private, max-age=60', public: 'public, max-age=60' }

/** One issuer tenant for the whole file (each gateway still fetches its keys itself). */
let sharedIssuer: Promise<Issuer> | undefined
const issuer = () => (sharedIssuer ??= newIssuer())

/** A hit on the entry the first request stored (the origin's first answer). */
function expectFirstEntry(res: Response): void {
  expect(cacheStatus(res)).toMatch(/^edgeway; hit/)
  expect(seq(res)).toBe(1)
}

/** The origin's second answer, showing `own` and never `other` (whose request came first). */
function expectOwnAnswer(answer: { res: Response; body: string }, own: string, other: string): void {
  expect(seq(answer.res)).toBe(2)
  expect(answer.body).toContain(own)
  expect(answer.body).not.toContain(other)
}

/** A response with its body read as text. */
const withBody = async (res: Response) => ({ res, body: await res.text() })

const cachedRoute = (policies: PolicyInput[]) => ({ id: 'cached', match: { path: '/c/*' }, policies, action: { type: 'proxy' as const, upstream: 'origin', stripPrefix: '/c' } })
/** The origin sees who is calling (scope "consumer" only: validation refuses consumer templates on a shared cache). */
const SHOW_CONSUMER: PolicyInput = { type: 'headers', request: { set: { 'X-Consumer-Id': '{consumer.id}' } } }

/**
 * A gateway whose `/c/*` route authenticates with the real policy for `placement` and caches with
 * `scope`; users A and B are fresh consumers with their own token or key. The origin echoes the
 * credential it received (the API key policy is told not to hide it), so a body shows whose it is.
 */
async function realGateway(scope: Scope, placement: Placement) {
  const iss = await issuer()
  const ids: Record<Who, string> = { A: consumerId('user-a'), B: consumerId('user-b') }
  const keyed = await configKeys({ [ids.A]: {}, [ids.B]: {} })
  const auth: Record<Placement, PolicyInput> = {
    authorization: { type: 'jwt', issuers: [iss.config] },
    cookie: { type: 'jwt', issuers: [iss.config], token: { cookie: 'session' } },
    'api-key-header': { type: 'api-key', hideCredentials: false },
    'api-key-query': { type: 'api-key', query: 'api_key', hideCredentials: false },
  }
  const cache = { type: 'cache', defaultTtl: 60, ...(scope !== 'unset' && { scope }) } as PolicyInput
  const gw = testGateway(originConfig({ consumers: keyed.consumers, routes: [cachedRoute([auth[placement], cache])] }), keyed.env)
  const tokens: Record<Who, string> = { A: await iss.token(ids.A), B: await iss.token(ids.B) }
  const secretOf = (who: Who) => (placement.startsWith('api-key') ? keyed.keys[ids[who]]! : tokens[who])
  const credential = (who: Who): { query: string; headers: Record<string, string> } => {
    switch (placement) {
      case 'authorization':
        return { query: '', headers: { Authorization: `Bearer ${tokens[who]}` } }
      case 'cookie':
        return { query: '', headers: { Cookie: `theme=dark; session=${tokens[who]}` } }
      case 'api-key-header':
        return { query: '', headers: { 'X-API-Key': keyed.keys[ids[who]]! } }
      case 'api-key-query':
        return { query: `&api_key=${keyed.keys[ids[who]]}`, headers: {} }
    }
  }
  const send = async (path: string, headers: Record<string, string>) => withBody(await gw.fetch(path, { headers }))
  return { secretOf, credential, send }
}

/** What B should get after A: A's stored response only where both the route and the origin share it. */
function bSharesWithA(scope: Scope, origin: OriginSends): boolean {
  return scope === 'public' && origin === 'public'
}
/** Whether A's own second request is a hit (its response was stored for A). */
function aHitsAgain(scope: Scope, origin: OriginSends): boolean {
  if (scope === 'unset' || origin === 'private') return false
  return scope === 'consumer' || origin === 'public'
}

describe('privacy matrix, through the real jwt and api-key policies', () => {
  for (const scope of ['unset', 'public', 'consumer'] as Scope[]) {
    for (const placement of PLACEMENTS) {
      for (const origin of Object.keys(ORIGIN_SENDS) as OriginSends[]) {
        const shares = bSharesWithA(scope, origin)
        it(`scope ${scope}, credential in ${placement}, origin sends ${origin}: B ${shares ? 'gets the shared entry' : "never gets A's response"}`, async () => {
          const { secretOf, credential, send } = await realGateway(scope, placement)
          const ids = { A: secretOf('A'), B: secretOf('B') }
          const t = tagged()
          const cc = ORIGIN_SENDS[origin] ? `cc=${encodeURIComponent(ORIGIN_SENDS[origin])}` : 'x=1'
          const ask = (who: Who) => {
            const { query, headers } = credential(who)
            return send(`/c/echo/${t.tag}?${cc}${query}`, t.headers(headers))
          }
          const a1 = await ask('A')
          expect(a1.res.status).toBe(200)
          expect(a1.body).toContain(ids.A)
          const b = await ask('B')
          expect(b.res.status).toBe(200)
          if (shares) {
            expectFirstEntry(b.res)
          } else {
            expectOwnAnswer(b, ids.B, ids.A)
          }
          const a2 = await ask('A')
          if (aHitsAgain(scope, origin)) {
            expectFirstEntry(a2.res)
          } else {
            expect(cacheStatus(a2.res)).not.toMatch(/hit/)
            expect(a2.body).toContain(ids.A)
          }
          if (scope === 'unset') expect(cacheStatus(b.res)).toBe('edgeway; fwd=bypass; detail=credentials')
        })
      }
    }
  }

  it('through the jwt policy: scope "consumer" keys by the token subject, two subjects never share an entry', async () => {
    const iss = await issuer()
    const gw = testGateway(originConfig({ routes: [cachedRoute([{ type: 'jwt', issuers: [iss.config] }, { type: 'cache', scope: 'consumer', defaultTtl: 60 }, SHOW_CONSUMER])] }))
    const t = tagged()
    const url = `/c/echo/${t.tag}?x=1`
    const [alice, bob] = [consumerId('alice'), consumerId('bob')]
    const as = async (sub: string, claims = {}) =>
      withBody(await gw.fetch(url, { headers: t.headers({ authorization: `Bearer ${await iss.token(sub, { jti: crypto.randomUUID(), ...claims })}` }) }))
    const first = await as(alice)
    expect(cacheStatus(first.res)).toBe('edgeway; fwd=uri-miss; fwd-status=200; stored')
    // Another token of the same subject (other jti, other scopes): the same consumer, the same entry.
    const again = await as(alice, { scope: 'orders:read' })
    expectFirstEntry(again.res)
    const other = await as(bob)
    expectOwnAnswer(other, bob, alice)
    expect(cacheStatus((await as(bob)).res)).toMatch(/^edgeway; hit/)
    expect(await t.count()).toBe(2)
  })

  it('through the jwt policy with two issuers: the same `sub` at another issuer is another user, never served the first one\'s entry', async () => {
    const [one, two] = [await newIssuer(), await newIssuer()]
    const jwt: PolicyInput = { type: 'jwt', issuers: [one.config, two.config] }
    const gw = testGateway(originConfig({ routes: [cachedRoute([jwt, { type: 'cache', scope: 'consumer', defaultTtl: 60 }, { type: 'headers', request: { set: { 'X-Issuer': '{claims.iss}' } } }])] }))
    const t = tagged()
    const sub = consumerId('same-sub')
    const at = async (iss: Issuer) => {
      const res = await gw.fetch(`/c/echo/${t.tag}?x=1`, { headers: t.headers({ authorization: `Bearer ${await iss.token(sub)}` }) })
      return { res, echo: (await res.json()) as Echo }
    }
    const first = await at(one)
    expect(first.echo.headers['x-issuer']).toBe(one.config.issuer)
    const second = await at(two)
    expect(seq(second.res)).toBe(2)
    expect(second.echo.headers['x-issuer']).toBe(two.config.issuer)
    expect(cacheStatus((await at(one)).res)).toMatch(/^edgeway; hit/)
    const twoAgain = await at(two)
    expect(cacheStatus(twoAgain.res)).toMatch(/^edgeway; hit/)
    expect(twoAgain.echo.headers['x-issuer']).toBe(two.config.issuer)
  })

  it('through the api-key policy (KV keys, header and query): scope "consumer" keys by the key owner, two owners never share an entry', async () => {
    const [acme, globex] = [consumerId('acme'), consumerId('globex')]
    const gw = testGateway(
      originConfig({
        consumers: { [acme]: {}, [globex]: {} },
        routes: [cachedRoute([{ type: 'api-key', kv: 'API_KEYS', query: 'api_key' }, { type: 'cache', scope: 'consumer', defaultTtl: 60 }, SHOW_CONSUMER])],
      }),
    )
    const [acmeKey1, acmeKey2, globexKey] = [await kvKey(gw, acme), await kvKey(gw, acme), await kvKey(gw, globex)]
    const t = tagged()
    const path = `/c/echo/${t.tag}?x=1`
    const viaHeader = async (key: string) => withBody(await gw.fetch(path, { headers: t.headers({ 'x-api-key': key }) }))
    const viaQuery = async (key: string) => withBody(await gw.fetch(`${path}&api_key=${encodeURIComponent(key)}`, { headers: t.headers() }))
    const first = await viaHeader(acmeKey1)
    expect(first.body).toContain(acme)
    // Acme's other key, in the query: the same owner, the same entry.
    const second = await viaQuery(acmeKey2)
    expectFirstEntry(second.res)
    const other = await viaQuery(globexKey)
    expectOwnAnswer(other, globex, acme)
    const otherAgain = await viaHeader(globexKey)
    expect(cacheStatus(otherAgain.res)).toMatch(/^edgeway; hit/)
    expect(otherAgain.body).toContain(globex)
    // A key that is not valid gets nothing at all, cached or not.
    const wrong = await viaHeader(`${acmeKey1}x`)
    expect(wrong.res.status).toBe(401)
    expect(wrong.body).not.toContain(acme)
    expect(await t.count()).toBe(2)
  })

  it('through the jwt policy: scope "public" shares only responses the origin marks public; a private one is never stored', async () => {
    const iss = await issuer()
    // The origin sees the caller's token (no forwardClaims: validation refuses them under "public");
    // sharing is then the origin's call (Cache-Control). The echo shows whose token it answered.
    const jwt: PolicyInput = { type: 'jwt', issuers: [iss.config] }
    const gw = testGateway(originConfig({ routes: [cachedRoute([jwt, { type: 'cache', scope: 'public', defaultTtl: 60 }])] }))
    const tokens = new Map<string, string>()
    const [alice, bob] = [consumerId('alice'), consumerId('bob')]
    for (const sub of [alice, bob]) tokens.set(sub, await iss.token(sub))
    const as = async (sub: string, url: string, t: ReturnType<typeof tagged>) => {
      const res = await gw.fetch(url, { headers: t.headers({ authorization: `Bearer ${tokens.get(sub)}` }) })
      const body = await res.text()
      return { res, body: (JSON.parse(body) as Echo).headers.authorization ?? '' }
    }
    const [aliceToken, bobToken] = [`Bearer ${tokens.get(alice)}`, `Bearer ${tokens.get(bob)}`]
    const cases: [string, string, 'shared' | 'not stored'][] = [
      ['public, max-age=60', 'stored', 'shared'],
      ['s-maxage=60', 'stored', 'shared'],
      ['max-age=60, must-revalidate', 'stored', 'shared'],
      ['private, max-age=60', 'detail=private', 'not stored'],
      ['max-age=60', 'detail=credentials', 'not stored'],
      ['', 'detail=credentials', 'not stored'],
      ['public, no-store', 'detail=no-store', 'not stored'],
    ]
    for (const [cc, statusEnd, outcome] of cases) {
      const t = tagged()
      const url = `/c/echo/${t.tag}?${cc ? `cc=${encodeURIComponent(cc)}` : 'x=1'}`
      const a = await as(alice, url, t)
      expect(cacheStatus(a.res), cc).toBe(`edgeway; fwd=uri-miss; fwd-status=200; ${statusEnd}`)
      const b = await as(bob, url, t)
      if (outcome === 'shared') {
        expect(cacheStatus(b.res), cc).toMatch(/^edgeway; hit/)
        expect(b.body).toBe(aliceToken)
      } else {
        expect(seq(b.res), cc).toBe(2)
        expect(b.body, cc).toBe(bobToken)
        expect(cacheStatus((await as(alice, url, t)).res), cc).not.toMatch(/hit/)
      }
    }
  })

  it('an auth failure (401) is never stored, and a cached entry is never served before authentication succeeds', async () => {
    const iss = await issuer()
    const stranger = await newIssuer()
    // Listed cache-first: phases still put authentication before the cache lookup.
    const policies: PolicyInput[] = [{ type: 'cache', scope: 'public', defaultTtl: 60 }, { type: 'jwt', issuers: [iss.config] }]
    const gw = testGateway(originConfig({ routes: [cachedRoute(policies)] }))
    const t = tagged()
    const url = `/c/echo/${t.tag}?cc=${encodeURIComponent('public, max-age=60')}`
    const now = Math.floor(Date.now() / 1000)
    const badTokens = {
      none: undefined,
      expired: await iss.token('alice', { iat: now - 600, exp: now - 300 }),
      'other audience': await iss.token('alice', { aud: 'other' }),
      'other issuer': await stranger.token('alice'),
      garbage: 'a.b.c',
    }
    const send = (token: string | undefined) => gw.fetch(url, { headers: t.headers(token ? { authorization: `Bearer ${token}` } : {}) })
    // A 401 first: nothing is stored, the valid request is a miss.
    const early = await send(undefined)
    expect(early.status).toBe(401)
    expect(cacheStatus(early)).toBeNull()
    await early.body?.cancel()
    const valid = await send(await iss.token('alice'))
    expect(cacheStatus(valid)).toBe('edgeway; fwd=uri-miss; fwd-status=200; stored')
    await valid.body?.cancel()
    // Now a public entry exists: no bad credential gets it.
    for (const [why, token] of Object.entries(badTokens)) {
      const res = await send(token)
      expect(res.status, why).toBe(401)
      expect(res.headers.get('content-type'), why).toBe('application/problem+json')
      expect(cacheStatus(res), why).toBeNull()
      expect(await res.text(), why).not.toContain('x-origin-seq')
    }
    expect(cacheStatus(await send(await iss.token('bob')))).toMatch(/^edgeway; hit/)
    expect(await t.count()).toBe(1)

    // An origin's 401, even marked public, is not stored either.
    const denied = tagged()
    const deniedUrl = `/c/echo/${denied.tag}?status=401&cc=${encodeURIComponent('public, max-age=60')}`
    for (let i = 1; i <= 2; i++) {
      const res = await gw.fetch(deniedUrl, { headers: denied.headers({ authorization: `Bearer ${await iss.token('alice')}` }) })
      expect(res.status).toBe(401)
      expect(seq(res)).toBe(i)
      expect(cacheStatus(res)).toBe('edgeway; fwd=uri-miss; fwd-status=401; detail=status')
      await res.body?.cancel()
    }
  })

  it('a rate-limited request (429) is answered before the cache: cached hits are still counted', async () => {
    const iss = await issuer()
    const policies: PolicyInput[] = [
      { type: 'cache', scope: 'consumer', defaultTtl: 3600 },
      // Exact: the test moves the object's clock alone, which a gateway denying locally would not see.
      { type: 'rate-limit', mode: 'exact', by: ['consumer'], limits: [{ name: 'reads', limit: 3, window: 3600 }] },
      { type: 'jwt', issuers: [iss.config] },
    ]
    const gw = testGateway(originConfig({ routes: [cachedRoute(policies)] }))
    const t = tagged()
    const url = `/c/echo/${t.tag}?x=1`
    const [alice, bob] = [consumerId('alice'), consumerId('bob')]
    const as = async (sub: string, path = url) => gw.fetch(path, { headers: t.headers({ authorization: `Bearer ${await iss.token(sub)}` }) })
    const seen: string[] = []
    for (let i = 0; i < 3; i++) {
      const res = await as(alice)
      seen.push(`${res.status} ${cacheStatus(res)?.split(';')[1]?.trim()} ${res.headers.get('ratelimit')}`)
      await res.body?.cancel()
    }
    // With none left, `t` is the time until the first request's unit returns: just under an hour.
    expect(seen.map((line) => line.replace(/t=(3600|359\d)$/, 't=~3600'))).toEqual(['200 fwd=uri-miss "reads";r=2;t=~3600', '200 hit "reads";r=1;t=~3600', '200 hit "reads";r=0;t=~3600'])
    const limited = await as(alice)
    expect(limited.status).toBe(429)
    expect(cacheStatus(limited)).toBeNull()
    expect(limited.headers.get('retry-after')).toMatch(/^(3600|359\d)$/)
    expect(await limited.json()).toMatchObject({ code: 'ERR_RATE_LIMITED', limit: 'reads' })
    // A token's subject is counted under its issuer (`consumer=<sub>@<iss>`, encoded).
    const aliceKey = tokenConsumerKey(alice, iss.config.issuer)
    expect(await used(aliceKey, 'route:cached/reads')).toBe(3)
    expect(await t.count()).toBe(1)
    // Bob has his own counter and his own entry.
    const bobs = await as(bob)
    expect(bobs.status).toBe(200)
    expect(cacheStatus(bobs)).toMatch(/uri-miss/)
    await bobs.body?.cancel()
    // An hour later Alice is admitted again, and gets her stored 200: the 429 was never stored.
    await setClock(aliceKey, Date.now() + 3_601_000)
    const later = await as(alice)
    expect(later.status).toBe(200)
    expectFirstEntry(later)
    await later.body?.cancel()

    // An origin's own 429 (even marked public) is not stored.
    const busy = `/c/echo/${t.tag}/busy?status=429&cc=${encodeURIComponent('public, max-age=60')}`
    const busyRes = await as(bob, busy)
    expect(busyRes.status).toBe(429)
    expect(cacheStatus(busyRes)).toBe('edgeway; fwd=uri-miss; fwd-status=429; detail=status')
    await busyRes.body?.cancel()
  })

  it('optional authentication (stand-in policy): anonymous requests never get an entry stored for a consumer, nor the other way round', async () => {
    const send = standInGateway('consumer')
    const t = tagged()
    const url = `/c/echo/${t.tag}?x=1`
    await send(url, t.headers({ Authorization: 'Bearer cred-A' }))
    const anonymous = await send(url, t.headers())
    expect(seq(anonymous.res)).toBe(2)
    expect(anonymous.body).not.toContain('cred-A')
    const anonymousAgain = await send(url, t.headers())
    expect(cacheStatus(anonymousAgain.res)).toMatch(/hit/)
    const c = await send(url, t.headers({ Authorization: 'Bearer cred-C' }))
    expect(seq(c.res)).toBe(3)
  })

  it('scope unset, no auth policy: an anonymous entry is not served to a request with credentials either', async () => {
    const send = standInGateway('unset')
    const t = tagged()
    const url = `/c/echo/${t.tag}?x=1`
    await send(url, t.headers())
    expect(cacheStatus((await send(url, t.headers())).res)).toMatch(/hit/)
    const withKey = await send(url, t.headers({ 'X-API-Key': 'cred-A' }))
    expect(cacheStatus(withKey.res)).toBe('edgeway; fwd=bypass; detail=credentials')
  })
})

/**
 * Stand-in for optional authentication, which the real policies don't offer: the credential's
 * owner (any value) becomes `c.var.consumer`, and a request without one passes anonymously.
 */
POLICY_DEFINITIONS['test-consumer'] = {
  type: 'test-consumer',
  phase: 'auth',
  schema: v.any(),
  create: () =>
    async function testConsumer(c, next) {
      const h = c.req.raw.headers
      const raw =
        h.get('authorization')?.replace(/^Bearer /, '') ??
        h.get('cookie')?.replace(/^session=/, '') ??
        h.get('x-api-key') ??
        c.var.url.searchParams.get('api_key') ??
        undefined
      if (raw) c.set('consumer', { id: `user-${raw.slice(-1)}`, via: 'test', key: `user-${raw.slice(-1)}` })
      await next()
    },
}

function standInGateway(scope: 'unset' | 'consumer') {
  const config: GatewayConfigInput = originConfig({
    routes: [cachedRoute([{ type: 'cache', defaultTtl: 60, ...(scope !== 'unset' && { scope }) } as PolicyInput])],
  })
  const parsed = loadConfig(config)
  if (scope === 'consumer') parsed.routes[0]!.policies.unshift({ type: 'test-consumer' } as never)
  const gw = parsedGateway(parsed)
  return async (path: string, headers: Record<string, string>) => withBody(await gw.fetch(path, { headers }))
}

describe('keys hold no credential', () => {
  const key = compileKey({ query: { sort: true }, headers: [], credentials: { headers: ['X-API-Key'], query: ['api_key'], cookies: true } })

  it('the consumer id is hashed, API keys in the query are left out, and the Cache API URL is a hash', async () => {
    const partition = await consumerPartition('user-secret-id')
    expect(partition).toMatch(/^consumer:[0-9a-f]{32}$/)
    const text = key.primary({ host: 'api.test', routeId: 'r', generation: '0.0.0', partition, path: '/me', search: '?api_key=sk_live_123&b=2', headers: new Headers() })
    expect(text).not.toContain('user-secret-id')
    expect(text).not.toContain('sk_live_123')
    expect(text).toContain('GET /me?b=2')
    const request = await cacheRequest('https://api.test', text)
    expect(request.url).toMatch(/^https:\/\/api\.test\/__edgeway_cache\/[0-9a-f]{64}$/)
  })

  it('finds credentials wherever they are', () => {
    expect(key.credentialsOf(new Headers({ authorization: 'x' }), '')).toBe('authorization')
    expect(key.credentialsOf(new Headers({ cookie: 'a=1' }), '')).toBe('cookie')
    expect(key.credentialsOf(new Headers({ 'x-api-key': 'k' }), '')).toBe('header:x-api-key')
    expect(key.credentialsOf(new Headers(), '?API_KEY=k')).toBe('query:api_key')
    expect(key.credentialsOf(new Headers({ accept: '*/*' }), '?page=2')).toBeUndefined()
  })
})

describe('stored entries hold no per-client header', () => {
  it('request id, RateLimit, a named-origin CORS grant, set inside the cache phase, are stripped; outer ones are fresh per request', async () => {
    const t = tagged()
    const config = originConfig({
      policies: [{ type: 'request-id', header: 'X-Correlation-Id' }],
      routes: [
        {
          id: 'cached',
          match: { path: '/c/*' },
          policies: [
            { type: 'cache', defaultTtl: 60 },
            {
              type: 'headers',
              response: {
                set: {
                  'X-Request-Id': '{request.id}',
                  'X-Correlation-Id': '{request.id}',
                  RateLimit: 'limit=10, remaining=9, reset=30',
                  'X-RateLimit-Remaining': '9',
                  'Access-Control-Allow-Origin': 'https://a.example',
                  'Access-Control-Allow-Credentials': 'true',
                  'X-Kept': 'yes',
                },
              },
            },
          ],
          action: { type: 'proxy', upstream: 'origin', stripPrefix: '/c' },
        },
      ],
    })
    const send = gatewayFrom(config)
    const miss = await send(`/c/echo/${t.tag}`, t.headers())
    expect(miss.res.headers.get('ratelimit')).toBe('limit=10, remaining=9, reset=30')
    const hit = await send(`/c/echo/${t.tag}`, t.headers())
    expect(cacheStatus(hit.res)).toMatch(/hit/)
    for (const name of ['x-request-id', 'ratelimit', 'x-ratelimit-remaining', 'access-control-allow-origin', 'access-control-allow-credentials']) {
      expect(hit.res.headers.get(name), name).toBeNull()
    }
    expect(hit.res.headers.get('x-kept')).toBe('yes')
    // The global request-id policy runs outside the cache: the hit carries its own request's id.
    expect(hit.res.headers.get('x-correlation-id')).toBe(hit.log.requestId)
    expect(hit.res.headers.get('x-correlation-id')).not.toBe(miss.log.requestId)
  })

  it('a wildcard CORS grant, or one keyed by Vary: Origin, is not per client and is kept', async () => {
    const t = tagged()
    const send = gatewayFrom(originConfig({ routes: [{ id: 'cached', match: { path: '/c/*' }, policies: [{ type: 'cache', defaultTtl: 60 }], action: { type: 'proxy', upstream: 'origin', stripPrefix: '/c' } }] }))
    const star = `/c/echo/${t.tag}/star?h=${encodeURIComponent('Access-Control-Allow-Origin:*')}`
    await send(star, t.headers())
    expect((await send(star, t.headers())).res.headers.get('access-control-allow-origin')).toBe('*')
    const varied = `/c/echo/${t.tag}/varied?h=${encodeURIComponent('Access-Control-Allow-Origin:https://a.example')}&h=${encodeURIComponent('Vary:Origin')}`
    await send(varied, t.headers({ Origin: 'https://a.example' }))
    const again = await send(varied, t.headers({ Origin: 'https://a.example' }))
    expect(cacheStatus(again.res)).toMatch(/hit/)
    expect(again.res.headers.get('access-control-allow-origin')).toBe('https://a.example')
    expect(cacheStatus((await send(varied, t.headers({ Origin: 'https://b.example' }))).res)).toMatch(/vary-miss/)
  })
})

function gatewayFrom(config: GatewayConfigInput) {
  const gw = testGateway(config)
  return async (path: string, headers: Record<string, string>) => ({ ...(await withBody(await gw.fetch(path, { headers }))), log: gw.logs.at(-1)! })
}
