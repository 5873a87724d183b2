/** Purging through the admin API (generations in KV) and the config checks of the cache policy. */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { originConfig, testGateway } from '../support/gateway'
import { advance, cachedGateway, cacheRuntime, cacheStatus, tagged } from './helpers'
import { PURGE_CLOCK_MARGIN_MS } from '../../src/http-cache/generation'
import { bucketKey, pathInBucket, pathKey } from '../support/generations'
import { configProblems } from '../support/config'

const ADMIN = { Authorization: 'Bearer test-admin-token', 'Content-Type': 'application/json' }

function purge(gw: ReturnType<typeof cachedGateway>, body: unknown, headers: Record<string, string> = ADMIN) {
  return gw.fetch('/_edgeway/cache/purge', { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) })
}

async function stored(gw: ReturnType<typeof cachedGateway>, url: string, headers: Record<string, string>) {
  await (await gw.fetch(url, { headers })).arrayBuffer()
  const hit = await gw.fetch(url, { headers })
  expect(cacheStatus(hit)).toMatch(/hit/)
  await hit.arrayBuffer()
}

describe('purge', () => {
  it('one URL: every query string of that path is gone, other paths stay', async () => {
    const gw = cachedGateway({ defaultTtl: 600 })
    const t = tagged()
    await stored(gw, `/c/echo/${t.tag}/a?x=1`, t.headers())
    await stored(gw, `/c/echo/${t.tag}/b`, t.headers())
    const res = await purge(gw, { url: `/c/echo/${t.tag}/./a?ignored=1` })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ purged: { url: `/c/echo/${t.tag}/a` }, generations: { CACHE_KV: expect.any(String) } })
    // Its bucket too: how other isolates' hits learn that a path of it was purged.
    expect(await env.CACHE_KV.get(await bucketKey(`/c/echo/${t.tag}/a`))).toMatch(/^[a-z0-9]+-[0-9a-f]{8}$/)
    expect(cacheStatus(await gw.fetch(`/c/echo/${t.tag}/a?x=1`, { headers: t.headers() }))).toMatch(/fwd=uri-miss/)
    expect(cacheStatus(await gw.fetch(`/c/echo/${t.tag}/b`, { headers: t.headers() }))).toMatch(/hit/)
  })

  it('one route, and everything; the generation is in KV, so other isolates and data centres see it', async () => {
    const gw = cachedGateway({ defaultTtl: 600 })
    const t = tagged()
    await stored(gw, `/c/echo/${t.tag}`, t.headers())
    expect((await purge(gw, { route: 'cached' })).status).toBe(200)
    expect(await env.CACHE_KV.get('cache-gen:route:cached')).toMatch(/^[a-z0-9]+-[0-9a-f]{8}$/)
    expect(cacheStatus(await gw.fetch(`/c/echo/${t.tag}`, { headers: t.headers() }))).toMatch(/fwd=uri-miss/)
    expect(cacheStatus(await gw.fetch(`/c/echo/${t.tag}`, { headers: t.headers() }))).toMatch(/hit/)
    expect((await purge(gw, { all: true })).status).toBe(200)
    expect(cacheStatus(await gw.fetch(`/c/echo/${t.tag}`, { headers: t.headers() }))).toMatch(/fwd=uri-miss/)
  })

  it('rejects bad purge requests with problem+json naming the problem', async () => {
    const gw = cachedGateway({ defaultTtl: 600 })
    const cases: [unknown, string][] = [
      ['{not json', 'The body must be JSON: {"all": true}, {"route": "<id>"} or {"url": "/path"}.'],
      [[1], 'The body must be a JSON object.'],
      [{}, 'Give exactly one of "all", "route" or "url".'],
      [{ all: true, route: 'cached' }, 'Give exactly one of "all", "route" or "url".'],
      [{ all: 'yes' }, '"all" must be true.'],
      [{ route: 'nope' }, 'Unknown route "nope" (known: cached, all).'],
      [{ url: 'users/1' }, '"url" must be a path ("/users/1") or an http(s) URL.'],
      // An option this gateway doesn't have is refused, never ignored (was: purged everything).
      [{ all: true, dryRun: true }, 'Unknown field "dryRun": give exactly one of "all", "route" or "url".'],
      // The route exists, but its purge could reach nothing.
      [{ route: 'all' }, 'Route "all" has no cache policy (of its own or global) and no cached aggregation call: nothing to purge.'],
    ]
    for (const [body, detail] of cases) {
      const res = await purge(gw, body)
      expect(res.status).toBe(400)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
      expect(((await res.json()) as { detail: string }).detail).toBe(detail)
    }
    const badPath = await purge(gw, { url: '/a/%2f/b' })
    expect(badPath.status).toBe(400)
    const anonymous = await purge(gw, { all: true }, { 'Content-Type': 'application/json' })
    expect(anonymous.status).toBe(401)
  })

  it('a route purge is accepted for a route that inherits a global cache policy', async () => {
    const gw = testGateway(
      originConfig({ policies: [{ type: 'cache', defaultTtl: 60 }], routes: [{ id: 'plain', match: { path: '/*' }, action: { type: 'proxy', upstream: 'origin' } }] }),
    )
    const res = await gw.fetch('/_edgeway/cache/purge', { method: 'POST', headers: ADMIN, body: '{"route":"plain"}' })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ purged: { route: 'plain' } })
  })

  it('answers 503 when the KV binding for generations is missing', async () => {
    const gw = testGateway(
      originConfig({ routes: [{ id: 'r', match: { path: '/*' }, policies: [{ type: 'cache', purge: { kv: 'NO_SUCH_KV' } }], action: { type: 'proxy', upstream: 'origin' } }] }),
    )
    const res = await gw.fetch('/_edgeway/cache/purge', { method: 'POST', headers: ADMIN, body: '{"all":true}' })
    expect(res.status).toBe(503)
    expect(await res.json()).toMatchObject({ code: 'ERR_CACHE_PURGE_UNAVAILABLE', detail: 'The KV binding "NO_SUCH_KV" that holds purge generations is not configured.' })
  })
})

/** The cached gateway with `CACHE_KV` read through a recorder of the keys it is asked for. */
function recordedGateway(cache: Record<string, unknown>) {
  const reads: string[] = []
  const kv = {
    get: (keys: string | string[], type: unknown) => {
      reads.push(...(Array.isArray(keys) ? keys : [keys]))
      return env.CACHE_KV.get(keys as string[], type as 'text')
    },
    put: (key: string, value: string) => env.CACHE_KV.put(key, value),
  }
  return { gw: cachedGateway(cache, { env: { CACHE_KV: kv } }), reads }
}

/** A purge of `path` written at `at` (ms) by another isolate or data centre: its bucket's value, then its own, as `purge` writes them. */
async function purgedElsewhere(path: string, at: number): Promise<void> {
  const value = `${at.toString(36)}-0badc0de`
  await env.CACHE_KV.put(await bucketKey(path), value)
  await env.CACHE_KV.put(await pathKey(path), value)
}

describe('a path purge, when the path is read', () => {
  it('neither a miss nor a hit reads its path\'s generation until a path of its bucket is purged; then a hit reads it', async () => {
    const { gw, reads } = recordedGateway({ defaultTtl: 600, purge: { cacheSeconds: 1 } })
    const t = tagged()
    const path = `/c/echo/${t.tag}`
    // A bucket nothing was purged in.
    await env.CACHE_KV.delete(await bucketKey(path))
    const get = async () => {
      const res = await gw.fetch(path, { headers: t.headers() })
      await res.arrayBuffer()
      return cacheStatus(res)
    }
    expect(await get()).toMatch(/fwd=uri-miss; fwd-status=200; stored/)
    expect(await get()).toMatch(/^edgeway; hit/)
    advance(2)
    expect(await get()).toMatch(/^edgeway; hit/)
    // The 16 buckets were read with the route's generations, twice (the isolate's copy lasts 1 s).
    expect(reads.filter((key) => key === 'cache-gen:route:cached')).toHaveLength(2)
    expect(reads.filter((key) => key.startsWith('cache-gen:paths:'))).toHaveLength(32)
    expect(reads.filter((key) => key.startsWith('cache-gen:url:'))).toEqual([])
    // Another path of the same bucket purged elsewhere after this entry was sent: the hit reads its own path's.
    await purgedElsewhere(await pathInBucket(`${path}/sibling`, path, true), cacheRuntime.now())
    advance(2)
    expect(await get()).toMatch(/^edgeway; hit/)
    expect(reads.filter((key) => key.startsWith('cache-gen:url:'))).toEqual([await pathKey(path)])
    expect(await t.count()).toBe(1)
  })

  it('another data centre\'s purge removes entries sent before it, and those sent within the clock margin after it', async () => {
    const { gw } = recordedGateway({ defaultTtl: 600, purge: { cacheSeconds: 1 } })
    const t = tagged()
    const path = `/c/echo/${t.tag}`
    const get = async () => {
      const res = await gw.fetch(path, { headers: t.headers() })
      await res.arrayBuffer()
      return cacheStatus(res)
    }
    expect(await get()).toMatch(/stored/)
    // Purged elsewhere just after this entry's request was sent; seen here once the isolate's copy is 1 s old.
    await purgedElsewhere(path, cacheRuntime.now() + 1)
    advance(2)
    expect(await get()).toMatch(/fwd=uri-miss; fwd-status=200; stored/)
    expect(await get()).toMatch(/^edgeway; hit/)
    // Purged elsewhere half the margin before this entry's request: its clock may be behind ours.
    await purgedElsewhere(path, cacheRuntime.now() - PURGE_CLOCK_MARGIN_MS / 2)
    advance(2)
    expect(await get()).toMatch(/fwd=uri-miss/)
    expect(await get()).toMatch(/^edgeway; hit/)
    expect(await t.count()).toBe(3)
  })

  it('an entry revalidated (304) before this isolate saw a purge keeps its first request\'s time: the purge still removes it', async () => {
    const { gw } = recordedGateway({ purge: { cacheSeconds: 5 } })
    const t = tagged()
    const path = `/c/echo/${t.tag}`
    const url = `${path}?cc=${encodeURIComponent('max-age=1')}&h=${encodeURIComponent('ETag:"v1"')}&conditional=1`
    const get = async () => {
      const res = await gw.fetch(url, { headers: t.headers() })
      await res.arrayBuffer()
      return cacheStatus(res)
    }
    expect(await get()).toMatch(/stored/)
    expect(await get()).toMatch(/^edgeway; hit/) // reads the path's generation: none, remembered 5 s
    await purgedElsewhere(path, cacheRuntime.now() + 1)
    advance(2)
    // Stale, and this isolate still remembers no purge: revalidated, a 304.
    expect(await get()).toBe('edgeway; fwd=stale; fwd-status=304; stored')
    advance(4)
    // The purge is seen now: the body the 304 kept dates from before it.
    expect(await get()).toMatch(/fwd=uri-miss/)
  })

  it('a found entry whose path generation cannot be read is not served: the origin answers (and its answer is stored)', async () => {
    const broken = { get: async (keys: string | string[]) => {
      if ((Array.isArray(keys) ? keys : [keys]).some((key) => key.startsWith('cache-gen:url:'))) throw new Error('KV is down')
      return env.CACHE_KV.get(keys as string[], 'text')
    } }
    const gw = cachedGateway({ defaultTtl: 600, purge: { cacheSeconds: 1 } }, { env: { CACHE_KV: broken } })
    const t = tagged()
    const path = `/c/echo/${t.tag}-unreadable`
    const get = async () => {
      const res = await gw.fetch(path, { headers: t.headers() })
      expect(res.status).toBe(200)
      await res.arrayBuffer()
      return cacheStatus(res)
    }
    expect(await get()).toMatch(/fwd=uri-miss; fwd-status=200; stored/)
    // A path of its bucket purged since: the hit needs its own path's generation, which fails.
    await purgedElsewhere(await pathInBucket(`${path}/sibling`, path, true), cacheRuntime.now())
    advance(2)
    expect(await get()).toMatch(/fwd=uri-miss; fwd-status=200; stored/)
    // Stored after that purge: its bucket says nothing newer, so no path read, and it is served.
    expect(await get()).toMatch(/^edgeway; hit/)
    expect(await t.count()).toBe(2)
  })
})

describe('when generations cannot be read', () => {
  it('the cache is bypassed (a purged entry must not be served), and the request still succeeds', async () => {
    // A binding that is not a KV namespace: every read of generations fails.
    const gw = cachedGateway({ defaultTtl: 600, purge: { kv: 'ORIGIN_URL' } })
    const t = tagged()
    const res = await gw.fetch(`/c/echo/${t.tag}`, { headers: t.headers() })
    expect(res.status).toBe(200)
    expect(cacheStatus(res)).toBe('edgeway; fwd=bypass; detail=purge-store-unavailable')
  })
})

describe('config validation', () => {
  const route = (cache: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    originConfig({ routes: [{ id: 'r', match: { path: '/users/:id' }, policies: [{ type: 'cache', ...cache } as never], action: { type: 'proxy', upstream: 'origin' }, ...extra }] })
  const problems = configProblems

  it('names each bad option by its path', () => {
    expect(problems(route({ query: { include: ['a'], exclude: ['b'] } }))).toEqual(['routes[0].policies[0].query: set "include" or "exclude", not both'])
    expect(problems(route({ defaultTtl: 600, maxTtl: 300 }))).toEqual(['routes[0].policies[0].defaultTtl: 600 s is over maxTtl (300 s)'])
    expect(problems(route({ keyHeaders: ['X-Tenant', 'Authorization'] }))).toEqual([
      'routes[0].policies[0].keyHeaders[1]: "Authorization" carries credentials and must not be part of a key; use scope "consumer" to cache per consumer',
    ])
    expect(problems(route({ statuses: [200, 500] }))).toEqual([
      'routes[0].policies[0].statuses[1]: must be one of 200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501',
    ])
    expect(problems(route({ scope: 'everyone' }))[0]).toMatch(/^routes\[0\]\.policies\[0\]\.scope: /)
    expect(problems(route({ defaultTtl: 1.5 }))).toEqual(['routes[0].policies[0].defaultTtl: must be whole seconds'])
    expect(problems(route({ ttl: 5 }))).toEqual(['routes[0].policies[0].ttl: unknown key (allowed: type, scope, defaultTtl, maxTtl, heuristicFraction, staleWhileRevalidate, staleIfError, maxBodyBytes, statuses, query, keyHeaders, credentials, targetedField, cacheName, purge, invalidationWritesPerMinute)'])
    expect(problems(route({ invalidationWritesPerMinute: -1 }))[0]).toMatch(/^routes\[0\]\.policies\[0\]\.invalidationWritesPerMinute: /)
  })

  it('refuses scope "public" on a route whose upstream request depends on the caller', () => {
    const rewrite = route({ scope: 'public' }, { action: { type: 'proxy', upstream: 'origin', path: '/users/{consumer.id}' } })
    expect(problems(rewrite)).toEqual([
      'routes[0].policies[0].scope: "public" shares one response between consumers, but routes[0].action.path reads {consumer...}; use scope "consumer"',
    ])
    const header = route({ scope: 'public' }, {})
    ;(header.routes[0]!.policies as unknown[]).push({ type: 'headers', request: { set: { 'X-User': '{claims.sub}' } } })
    expect(problems(header)).toEqual([
      'routes[0].policies[0].scope: "public" shares one response between consumers, but routes[0].policies[1].request.set.X-User reads {claims...}; use scope "consumer"',
    ])
    expect(problems(route({ scope: 'consumer' }, { action: { type: 'proxy', upstream: 'origin', path: '/users/{consumer.id}' } }))).toEqual([])
  })

  it('refuses a route that sends a request header or query parameter upstream which the key leaves out', () => {
    const withHeaders = (cache: Record<string, unknown>, set: Record<string, string>, action?: unknown) => {
      const config = route(cache, action ? { action } : {})
      ;(config.routes[0]!.policies as unknown[]).push({ type: 'headers', request: { set } })
      return config
    }
    expect(problems(withHeaders({}, { 'X-Tenant': '{headers.x-org}' }))).toEqual([
      'routes[0].policies[0].keyHeaders: routes[0].policies[1].request.set.X-Tenant sends {headers.x-org} upstream, but "x-org" is not part of the cache key; add it to keyHeaders',
    ])
    // Any scope: within one consumer, two values of the header would still share an entry.
    expect(problems(withHeaders({ scope: 'consumer' }, { 'X-Tenant': '{headers.x-org}' }))).toHaveLength(1)
    expect(problems(withHeaders({ keyHeaders: ['X-Org'] }, { 'X-Tenant': '{headers.x-org}' }))).toEqual([])
    // A path rewrite from a query parameter the key excludes.
    expect(problems(route({ query: { exclude: ['region'] } }, { action: { type: 'proxy', upstream: 'origin', path: '/r/{query.region}' } }))).toEqual([
      'routes[0].policies[0].query: routes[0].action.path sends {query.region} upstream, but the query parameter "region" is left out of the cache key',
    ])
    expect(problems(route({}, { action: { type: 'proxy', upstream: 'origin', path: '/r/{query.region}' } }))).toEqual([])
    // Credentials are the scope's business: such requests bypass, or are partitioned by consumer.
    expect(problems(withHeaders({ scope: 'consumer' }, { 'X-Auth': '{headers.authorization}' }))).toEqual([])
  })

  it('refuses scope "public" when a jwt policy forwards claims to the origin, on the route or global', () => {
    const jwt = { type: 'jwt', issuers: [{ issuer: 'https://id.example/', jwksUrl: 'https://id.example/jwks' }], forwardClaims: { 'X-User-Id': 'sub' } }
    const onRoute = route({ scope: 'public' }, {})
    ;(onRoute.routes[0]!.policies as unknown[]).unshift(jwt)
    expect(problems(onRoute)).toEqual([
      'routes[0].policies[1].scope: "public" shares one response between consumers, but routes[0].policies[0].forwardClaims sends claims to the origin; use scope "consumer"',
    ])
    const global = { ...route({ scope: 'public' }, {}), policies: [jwt] }
    expect(problems(global as never)).toEqual([
      'routes[0].policies[0].scope: "public" shares one response between consumers, but policies[0].forwardClaims sends claims to the origin; use scope "consumer"',
    ])
    const consumer = route({ scope: 'consumer' }, {})
    ;(consumer.routes[0]!.policies as unknown[]).unshift(jwt)
    expect(problems(consumer)).toEqual([])
    const noClaims = route({ scope: 'public' }, {})
    ;(noClaims.routes[0]!.policies as unknown[]).unshift({ ...jwt, forwardClaims: {} })
    expect(problems(noClaims)).toEqual([])
  })
})
