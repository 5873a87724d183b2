/**
 * Per-call caching (`cache: { ttl, key, purge }`) on the cache policy's machinery, against the real
 * test origin: storability, lifetime, purge, whose answer it is, and no bookkeeping leaking out.
 */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { advance, cacheRuntime } from '../cache/helpers'
import { newKey, sign, Tenant } from '../auth/tokens'
import { newTag, originStats, sha256Hex, testGateway } from '../support/gateway'
import { aggregateConfig, jsonCall, type CallInput } from './helpers'
import { configProblems } from '../support/config'

async function twice(tag: string, calls: CallInput[], headers: Record<string, string>[] = [{}, {}]) {
  const gw = testGateway(aggregateConfig(calls))
  const bodies = []
  for (const extra of headers) {
    const res = await gw.fetch('/agg/42', { headers: { 'x-test-tag': tag, ...extra } })
    expect(res.status).toBe(200)
    bodies.push((await res.json()) as Record<string, any>)
  }
  return { bodies, stats: await originStats(tag), logs: gw.logs }
}

describe('aggregate: per-call cache', () => {
  it('reuses a cached call, and the cached body feeds dependants and shaping alike', async () => {
    const tag = newTag()
    const calls: CallInput[] = [
      { name: 'a', upstream: 'origin', path: `/echo/cached/${tag}`, query: { v: '1' }, cache: { ttl: 60 }, select: 'query', group: 'a' },
      { name: 'b', upstream: 'origin', path: '/echo/b/{a.body.query.v}', group: 'b' },
    ]
    const { bodies, stats, logs } = await twice(tag, calls)
    expect(bodies[1]!.a).toEqual(bodies[0]!.a)
    expect(bodies[0]!.a).toEqual({ v: '1' })
    expect(bodies[1]!.b.path).toBe('/echo/b/1')
    // Two requests: the cached call went to the origin once, its dependant twice.
    expect(stats.count).toBe(3)
    expect((logs[1]!.calls as { call: string; cache?: string }[]).find((l) => l.call === 'a')?.cache).toBe('HIT')
  })

  it('keys by the rendered key template', async () => {
    const tag = newTag()
    const calls: CallInput[] = [
      { name: 'a', upstream: 'origin', path: `/echo/keyed/${tag}`, forwardHeaders: ['x-test-tag', 'x-user'], cache: { ttl: 60, key: '{headers.x-user}' }, select: 'headers.x-user', group: 'who' },
    ]
    const { bodies, stats } = await twice(tag, calls, [{ 'x-user': 'ann' }, { 'x-user': 'bob' }, { 'x-user': 'ann' }])
    expect(bodies.map((b) => b.who)).toEqual(['ann', 'bob', 'ann'])
    expect(stats.count).toBe(2)
  })

  it('does not store what the origin marks private, nor share a call carrying Authorization without a key', async () => {
    const tag = newTag()
    const { stats } = await twice(tag, [{ name: 'a', upstream: 'origin', path: `/echo/private/${tag}`, query: { cc: 'private, max-age=60' }, cache: { ttl: 60 } }])
    expect(stats.count).toBe(2)
    const tag2 = newTag()
    const { stats: stats2 } = await twice(tag2, [{ name: 'a', upstream: 'origin', path: `/echo/auth/${tag2}`, forwardHeaders: ['x-test-tag', 'Authorization'], cache: { ttl: 60 } }], [
      { authorization: 'Bearer one' },
      { authorization: 'Bearer two' },
    ])
    expect(stats2.count).toBe(2)
  })
})

type CallLogLine = { call: string; cache?: string; cacheDetail?: string }
const callLog = (line: Record<string, unknown> | undefined, name = 'a') => (line?.calls as CallLogLine[] | undefined)?.find((l) => l.call === name)

describe('aggregate: per-call cache follows the cache policy rules', () => {
  it('never reuses an answer the origin marks private, no-store or no-cache, that sets a cookie or varies on *', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ cc: 'private, max-age=60' }, 'private'],
      [{ cc: 'no-store' }, 'no-store'],
      [{ cc: 'no-cache, max-age=60' }, 'no-cache'],
      [{ cc: 'max-age=60', h: 'Set-Cookie: session=abc' }, 'set-cookie'],
      [{ cc: 'max-age=60', h: 'Vary: *' }, 'vary-star'],
      [{ cc: 'max-age=0' }, 'no-ttl'],
    ]
    for (const [query, reason] of cases) {
      const tag = newTag()
      const { stats, logs } = await twice(tag, [{ name: 'a', upstream: 'origin', path: `/echo/uncached/${tag}`, query, cache: { ttl: 60 }, group: 'a' }])
      expect({ reason, count: stats.count }).toEqual({ reason, count: 2 })
      expect(callLog(logs[1])).toMatchObject({ cache: 'MISS', cacheDetail: reason })
    }
  })

  it('reuses a gzip-encoded answer: the entry reads back as the decoded JSON', async () => {
    const tag = newTag()
    const { bodies, stats, logs } = await twice(tag, [{ name: 'a', upstream: 'origin', path: `/echo/gzip/${tag}`, query: { gzip: '1', cc: 'max-age=60' }, select: 'query', group: 'a', cache: { ttl: 60 } }])
    expect(bodies[1]).toEqual(bodies[0])
    expect(bodies[0]!.a).toEqual({ gzip: '1', cc: 'max-age=60' })
    expect(callLog(logs[1])?.cache).toBe('HIT')
    expect(stats.count).toBe(1)
  })

  it('does not keep an answer that failed to decode (not JSON)', async () => {
    const tag = newTag()
    const { stats, logs } = await twice(tag, [jsonCall('ok', {}), { name: 'a', upstream: 'origin', path: '/json', query: { value: 'not json', t: tag }, cache: { ttl: 60 }, required: false }])
    // Two requests of two calls each: the answer that failed to decode was fetched both times.
    expect(stats.count).toBe(4)
    expect(callLog(logs[1])?.cache).toBe('MISS')
  })

  it('takes the lifetime from the origin capped by ttl, and ttl when the origin says nothing', async () => {
    // [origin Cache-Control / Age, ttl, seconds later, reused?]
    const cases: [Record<string, string>, number, number, boolean][] = [
      [{ cc: 'max-age=5' }, 60, 3, true],
      [{ cc: 'max-age=5' }, 60, 10, false], // the origin's shorter max-age wins over ttl
      [{ cc: 's-maxage=5, max-age=600' }, 60, 10, false], // s-maxage over max-age
      [{ cc: 'max-age=600' }, 5, 10, false], // ttl caps a longer max-age
      [{}, 60, 30, true], // no freshness from the origin: ttl
      [{}, 60, 61, false],
      [{ cc: 'max-age=60', h: 'Age: 50' }, 600, 20, false], // the origin's Age counts
    ]
    for (const [query, ttl, later, reused] of cases) {
      const tag = newTag()
      const gw = testGateway(aggregateConfig([{ name: 'a', upstream: 'origin', path: `/echo/life/${tag}`, query, cache: { ttl } }]), {}, { runtime: cacheRuntime })
      await (await gw.fetch('/agg/42', { headers: { 'x-test-tag': tag } })).arrayBuffer()
      advance(later)
      await (await gw.fetch('/agg/42', { headers: { 'x-test-tag': tag } })).arrayBuffer()
      advance(-later)
      expect({ query, ttl, later, count: (await originStats(tag)).count }).toEqual({ query, ttl, later, count: reused ? 1 : 2 })
    }
  })

  it('keeps bookkeeping out: a hit reads like the origin answer, and the merged response has no Age or internal headers', async () => {
    const tag = newTag()
    const calls: CallInput[] = [
      { name: 'a', upstream: 'origin', path: `/echo/clean/${tag}`, query: { cc: 'max-age=300', h: 'ETag: "v1"' }, cache: { ttl: 60 }, select: 'query', group: 'a' },
      {
        name: 'b',
        upstream: 'origin',
        path: '/echo/b',
        headers: {
          'x-a-cc': '{a.headers.cache-control|absent}',
          'x-a-etag': '{a.headers.etag|absent}',
          'x-a-age': '{a.headers.age|absent}',
          'x-a-stored': '{a.headers.x-edgeway-cache-stored-at|absent}',
          'x-a-ttl': '{a.headers.x-edgeway-cache-ttl|absent}',
        },
        select: 'headers',
        allow: ['x-a-cc', 'x-a-etag', 'x-a-age', 'x-a-stored', 'x-a-ttl'],
        group: 'seen',
      },
    ]
    const gw = testGateway(aggregateConfig(calls))
    const responses = []
    for (let i = 0; i < 2; i++) {
      const res = await gw.fetch('/agg/42', { headers: { 'x-test-tag': tag } })
      responses.push({ headers: [...res.headers.keys()], body: await res.json() })
    }
    expect(callLog(gw.logs[1])?.cache).toBe('HIT')
    expect(responses[1]!.body).toEqual(responses[0]!.body)
    expect((responses[1]!.body as { seen: unknown }).seen).toEqual({ 'x-a-cc': 'max-age=300', 'x-a-etag': '"v1"', 'x-a-age': 'absent', 'x-a-stored': 'absent', 'x-a-ttl': 'absent' })
    for (const { headers } of responses) {
      // Cache-Control is the merged response's own (b says nothing and the route has no cache: no-store).
      expect(headers.filter((name) => name === 'age' || name.startsWith('x-edgeway'))).toEqual([])
    }
  })
})

describe('aggregate: per-call cache and purge', () => {
  const ADMIN = { Authorization: 'Bearer test-admin-token', 'Content-Type': 'application/json' }

  it('purging everything, or the route, clears call entries (generations in KV)', async () => {
    const tag = newTag()
    const gw = testGateway(aggregateConfig([{ name: 'a', upstream: 'origin', path: `/echo/purge/${tag}`, cache: { ttl: 600 } }]))
    const call = async () => {
      await (await gw.fetch('/agg/42', { headers: { 'x-test-tag': tag } })).arrayBuffer()
      return callLog(gw.logs.at(-1))?.cache
    }
    const purge = async (body: unknown) => {
      const res = await gw.fetch('/_edgeway/cache/purge', { method: 'POST', headers: ADMIN, body: JSON.stringify(body) })
      expect(res.status).toBe(200)
    }
    expect([await call(), await call()]).toEqual(['MISS', 'HIT'])
    await purge({ all: true })
    expect([await call(), await call()]).toEqual(['MISS', 'HIT'])
    await purge({ route: 'agg' })
    expect([await call(), await call()]).toEqual(['MISS', 'HIT'])
    expect(await env.CACHE_KV.get('cache-gen:route:agg')).toMatch(/^[a-z0-9]+-[0-9a-f]{8}$/)
    expect((await originStats(tag)).count).toBe(3)
  })

  it('a call whose generations cannot be read goes to the origin, and the request succeeds', async () => {
    const tag = newTag()
    const { stats, logs } = await twice(tag, [{ name: 'a', upstream: 'origin', path: `/echo/nokv/${tag}`, cache: { ttl: 600, purge: { kv: 'ORIGIN_URL' } } }])
    expect(stats.count).toBe(2)
    expect(callLog(logs[1])).toMatchObject({ cache: 'BYPASS', cacheDetail: 'purge-store-unavailable' })
  })
})

describe('aggregate: per-call cache and whose answer it is', () => {
    async function consumersGateway(cache: CallInput['cache']) {
    const config = aggregateConfig([
      // A header read from the request needs a key (validation): without one, the call sends none.
      { name: 'a', upstream: 'origin', path: '/echo/mine', ...(cache?.key && { headers: { 'x-who': '{consumer.id}' } }), cache, select: 'headers.x-who', group: 'who' },
    ])
    config.consumers = { acme: { apiKeySecrets: ['ACME_HASH'] }, globex: { apiKeySecrets: ['GLOBEX_HASH'] } }
    config.routes[0]!.policies = [{ type: 'api-key' }]
    return testGateway(config, { ACME_HASH: await sha256Hex('acme-key-0123456789'), GLOBEX_HASH: await sha256Hex('globex-key-0123456789') })
  }

  it('two consumers with key "{consumer.id}" never see each other\'s result', async () => {
    const tag = newTag()
    const gw = await consumersGateway({ ttl: 600, key: '{consumer.id}' })
    const seen = []
    for (const key of ['acme', 'globex', 'acme', 'globex']) {
      const res = await gw.fetch('/agg/42', { headers: { 'x-test-tag': tag, 'x-api-key': `${key}-key-0123456789` } })
      seen.push(((await res.json()) as { who: string }).who)
    }
    expect(seen).toEqual(['acme', 'globex', 'acme', 'globex'])
    expect(gw.logs.map((line) => callLog(line)?.cache)).toEqual(['MISS', 'MISS', 'HIT', 'HIT'])
    expect((await originStats(tag)).count).toBe(2)
  })

  it('the same sub at two issuers with key "{consumer.id}" never sees the other\'s result', async () => {
    const [a, b] = [new Tenant(), new Tenant()]
    const [keyA, keyB] = [await newKey('RS256'), await newKey('RS256')]
    await Promise.all([a.publish(keyA), b.publish(keyB)])
    const config = aggregateConfig([
      { name: 'a', upstream: 'origin', path: '/echo/mine', headers: { 'x-who': '{consumer.issuer}' }, cache: { ttl: 600, key: '{consumer.id}' }, select: 'headers.x-who', group: 'who' },
    ])
    config.routes[0]!.policies = [{ type: 'jwt', issuers: [a, b].map((t) => ({ issuer: t.issuer, jwksUrl: t.jwksUrl })) }]
    const gw = testGateway(config)
    const tag = newTag()
    const seen = []
    for (const [key, tenant] of [[keyA, a], [keyB, b], [keyA, a], [keyB, b]] as const) {
      const res = await gw.fetch('/agg/42', { headers: { 'x-test-tag': tag, authorization: `Bearer ${await sign(key, tenant.issuer, { sub: 'alice' })}` } })
      seen.push(((await res.json()) as { who: string }).who)
    }
    expect(seen).toEqual([a.issuer, b.issuer, a.issuer, b.issuer])
    expect(gw.logs.map((line) => callLog(line)?.cache)).toEqual(['MISS', 'MISS', 'HIT', 'HIT'])
  })

  it('a call for an established consumer without a key is not cached at all', async () => {
    const tag = newTag()
    const gw = await consumersGateway({ ttl: 600 })
    for (const key of ['acme', 'globex', 'acme']) await (await gw.fetch('/agg/42', { headers: { 'x-test-tag': tag, 'x-api-key': `${key}-key-0123456789` } })).arrayBuffer()
    expect(gw.logs.map((line) => callLog(line))).toEqual(Array(3).fill(expect.objectContaining({ cache: 'BYPASS', cacheDetail: 'credentials' })))
    expect((await originStats(tag)).count).toBe(3)
  })

  it('a key that renders empty says nothing about whose answer it is: credentialed calls bypass', async () => {
    const tag = newTag()
    const calls: CallInput[] = [
      {
        name: 'a',
        upstream: 'origin',
        path: `/echo/empty/${tag}`,
        forwardHeaders: ['x-test-tag', 'Authorization', 'Cookie', 'X-API-Key'],
        cache: { ttl: 600, key: '{consumer.id}' },
        select: 'headers',
        allow: ['authorization', 'cookie', 'x-api-key'],
        group: 'sent',
      },
    ]
    const clients: Record<string, string>[] = [{ authorization: 'Bearer one' }, { authorization: 'Bearer two' }, { 'x-api-key': 'k1' }, { 'x-api-key': 'k2' }, { cookie: 'sid=1' }, { cookie: 'sid=2' }]
    const { bodies, stats, logs } = await twice(tag, calls, clients)
    expect(bodies.map((b) => b.sent)).toEqual(clients)
    expect(stats.count).toBe(6)
    expect(logs.map((line) => callLog(line)?.cacheDetail)).toEqual(Array(6).fill('credentials'))
  })

  it('keys hold no raw key value or consumer id', async () => {
    const secret = 'consumer-secret-id'
    const seen: string[] = []
    const spy = caches.default
    const put = spy.put.bind(spy)
    const match = spy.match.bind(spy)
    spy.put = (req, res) => (seen.push(new Request(req).url), put(req, res))
    spy.match = (req, opts) => (seen.push(new Request(req).url), match(req, opts))
    try {
      const tag = newTag()
      await twice(tag, [{ name: 'a', upstream: 'origin', path: `/echo/hashed/${tag}`, cache: { ttl: 600, key: '{headers.x-user}' } }], [{ 'x-user': secret }, { 'x-user': secret }])
    } finally {
      spy.put = put
      spy.match = match
    }
    expect(seen.length).toBeGreaterThanOrEqual(3)
    for (const url of seen) expect(url).toMatch(/^http:\/\/gateway\.test\/__edgeway_cache\/[0-9a-f]{64}$/)
  })
})

describe('aggregate: per-call cache config', () => {
  it('requires a key when a cached call\'s headers read the request, directly or through a call', () => {
    const problems = (calls: CallInput[]) => configProblems(aggregateConfig(calls))
    const cache = { ttl: 60 }
    const tenant = (more: Partial<CallInput> = {}): CallInput => ({ name: 't', upstream: 'origin', path: '/t', headers: { 'X-Tenant': '{headers.x-tenant}' }, cache, ...more })
    expect(problems([jsonCall('a', {}), tenant()])).toEqual([
      'routes[0].action.calls[1].cache.key: required: header "X-Tenant" reads the request in "{headers.x-tenant}" and a call\'s headers are not part of its cache key; set "key" to what tells the answers apart (e.g. "{headers.x-tenant}")',
    ])
    for (const source of ['{query.lang}', '{params.id}', '{claims.sub}', '{consumer.id}', 'v-{request.ip}']) {
      expect(problems([tenant({ headers: { 'X-Who': source } })])).toHaveLength(1)
    }
    // Through a call whose answer depends on the request (here: one step removed).
    expect(problems([
      { name: 'user', upstream: 'origin', path: '/u/{params.id}' },
      { name: 'profile', upstream: 'origin', path: '/p', query: { u: '{user.body.id}' } },
      { name: 'plan', upstream: 'origin', path: '/plan', headers: { 'X-User': 'u={profile.body.id}' }, cache },
    ])).toEqual([
      'routes[0].action.calls[2].cache.key: required: header "X-User" reads call "profile", whose answer depends on the request, in "{profile.body.id}" and a call\'s headers are not part of its cache key; set "key" to what tells the answers apart (e.g. "{profile.body.id}")',
    ])
    // Fine: a key; request data only in the path and query (they are in the key); a header from a
    // call that reads no request data; literal headers.
    expect(problems([tenant({ cache: { ttl: 60, key: '{headers.x-tenant}' } })])).toEqual([])
    expect(problems([tenant({ path: '/t/{params.id}', query: { lang: '{query.lang}' }, headers: { 'X-Fixed': 'yes' } })])).toEqual([])
    expect(problems([jsonCall('conf', { v: 1 }), tenant({ headers: { 'X-V': '{conf.body.v}' } })])).toEqual([])
  })

  it('names a bad cache option by its path', () => {
    const problems = (cache: unknown) => configProblems(aggregateConfig([{ name: 'a', upstream: 'origin', path: '/a', cache } as CallInput]))
    expect(problems({ ttl: 60, scope: 'public' })).toEqual(['routes[0].action.calls[0].cache.scope: unknown key (allowed: ttl, key, purge)'])
    expect(problems({ ttl: 60, purge: { kv: 'bad name' } })).toEqual(['routes[0].action.calls[0].cache.purge.kv: must be letters, digits, "_", "-" or "." (at most 128)'])
    expect(problems({ ttl: 0 })[0]).toMatch(/^routes\[0\]\.action\.calls\[0\]\.cache\.ttl: /)
  })
})
