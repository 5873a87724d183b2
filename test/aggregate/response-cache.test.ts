/**
 * A merged response under the route's `cache` policy: it says how long it may be kept and what it
 * varies on, from what its calls said, so the cache never serves one client's answer to another.
 * Real origins on 127.0.0.1 answering `Vary`, `private` and `Set-Cookie`; the clock is moved.
 */
import { describe, expect, it } from 'vitest'
import { advance, cacheRuntime } from '../cache/helpers'
import { newTag, ORIGIN, originStats, testGateway } from '../support/gateway'
import { aggregateConfig, jsonCall, type CallInput } from './helpers'

const CACHE = { type: 'cache', defaultTtl: 60 }

/** A call to the echo origin answering with the response headers in `h` and Cache-Control `cc`. */
function echoCall(name: string, tag: string, answer: { cc?: string; h?: string[] } = {}, more: Partial<CallInput> = {}): CallInput {
  const query: Record<string, string> = { t: tag }
  if (answer.cc !== undefined) query.cc = answer.cc
  // Templates: a literal "h" value can't repeat, so each header gets its own parameter name the origin ignores.
  answer.h?.forEach((header, i) => (query[i === 0 ? 'h' : `h${i}`] = header))
  return { name, upstream: 'origin', path: `/echo/${name}`, query, select: 'headers', allow: ['accept-language'], group: name, ...more }
}

function cachedAggregate(calls: CallInput[], cache: Record<string, unknown> = CACHE, extra: Record<string, unknown> = {}) {
  return testGateway(aggregateConfig(calls, extra, { policies: [cache] }), {}, { runtime: cacheRuntime })
}

/** GET /agg/<tag>: route cache entries are keyed by path, so each test has its own. */
async function get(gw: ReturnType<typeof cachedAggregate>, tag: string, headers: Record<string, string> = {}) {
  const res = await gw.fetch(`/agg/${tag}`, { headers: { 'x-test-tag': tag, ...headers } })
  return { res, body: (await res.json()) as Record<string, Record<string, string>>, status: res.headers.get('cache-status') ?? '' }
}

describe('aggregate: the merged response under the route cache', () => {
  it('a call answering Vary: Accept-Language varies the aggregate on the client\'s Accept-Language', async () => {
    const tag = newTag()
    const gw = cachedAggregate([echoCall('page', tag, { cc: 'max-age=60', h: ['Vary: Accept-Language'] }, { forwardHeaders: ['x-test-tag', 'Accept-Language'] })])
    const seen = []
    for (const lang of ['fr', 'en', 'fr', 'en']) {
      const { res, body, status } = await get(gw, tag, { 'accept-language': lang })
      seen.push([lang, body.page!['accept-language'], status.includes('hit')])
      expect(res.headers.get('vary')).toBe('accept-language')
      expect(res.headers.get('cache-control')).toBe('max-age=60, stale-while-revalidate=0, stale-if-error=0')
    }
    expect(seen).toEqual([
      ['fr', 'fr', false],
      ['en', 'en', false],
      ['fr', 'fr', true],
      ['en', 'en', true],
    ])
    expect((await originStats(tag)).count).toBe(2)
  })

  it('a call answering private with Set-Cookie makes the aggregate uncacheable: the next user gets their own', async () => {
    const tag = newTag()
    const gw = cachedAggregate([
      jsonCall('shared', { catalogue: true }),
      echoCall('me', tag, { cc: 'private, max-age=60', h: ['Set-Cookie: session=abc'] }, { forwardHeaders: ['x-test-tag', 'Accept-Language'] }),
    ])
    for (const lang of ['fr', 'en']) {
      const { res, body, status } = await get(gw, tag, { 'accept-language': lang })
      expect(body.me!['accept-language']).toBe(lang)
      expect(res.headers.get('cache-control')).toBe('no-store')
      expect(res.headers.get('set-cookie')).toBeNull()
      expect(status).toContain('detail=no-store')
    }
    expect((await originStats(tag)).count).toBe(4)
    // The log line says which call made it so.
    expect(gw.logs.map((line) => line.aggregateNoStore)).toEqual(['me: private', 'me: private'])
  })

  it('is uncacheable when any call says private, no-store, no-cache, must-revalidate, Set-Cookie or Vary: *', async () => {
    const cases: { cc?: string; h?: string[] }[] = [
      { cc: 'private, max-age=60' },
      { cc: 'no-store' },
      { cc: 'no-cache, max-age=60' },
      { cc: 'max-age=60, must-revalidate' },
      { cc: 'max-age=60', h: ['Set-Cookie: a=b'] },
      { cc: 'max-age=60', h: ['Vary: *'] },
    ]
    for (const answer of cases) {
      const tag = newTag()
      const gw = cachedAggregate([echoCall('fine', tag, { cc: 'max-age=60' }), echoCall('odd', tag, answer)])
      const first = await get(gw, tag)
      await get(gw, tag)
      expect({ answer, cc: first.res.headers.get('cache-control'), count: (await originStats(tag)).count }).toEqual({ answer, cc: 'no-store', count: 4 })
    }
  })

  it('is uncacheable when a call varies on a header that did not come from the client as sent', async () => {
    const tag = newTag()
    // The request id is the gateway's, a templated header is per request: no client header says how they vary.
    for (const call of [
      echoCall('byId', tag, { cc: 'max-age=60', h: ['Vary: X-Request-Id'] }),
      echoCall('byTemplate', tag, { cc: 'max-age=60', h: ['Vary: X-Lang'] }, { headers: { 'X-Lang': '{headers.accept-language|none}' } }),
    ]) {
      const { res } = await get(cachedAggregate([call], { ...CACHE, keyHeaders: ['accept-language'] }), tag)
      expect([call.name, res.headers.get('cache-control'), res.headers.get('vary')]).toEqual([call.name, 'no-store', null])
    }
  })

  it('a Vary on a header the call never got, or got as a fixed value, or Accept-Encoding, varies nothing', async () => {
    const tag = newTag()
    const gw = cachedAggregate([
      echoCall('a', tag, { cc: 'max-age=60', h: ['Vary: Accept-Language, Accept-Encoding, Accept, X-Fixed'] }, { headers: { 'X-Fixed': 'v1' } }),
    ])
    const first = await get(gw, tag, { 'accept-language': 'fr' })
    const second = await get(gw, tag, { 'accept-language': 'en' })
    expect(first.res.headers.get('vary')).toBeNull()
    expect(first.res.headers.get('cache-control')).toBe('max-age=60, stale-while-revalidate=0, stale-if-error=0')
    expect(second.status).toContain('hit')
    expect((await originStats(tag)).count).toBe(1)
  })

  it('lives as long as its shortest call: defaultTtl for a call without freshness, an origin\'s max-age less its Age', async () => {
    const cases: [{ cc?: string; h?: string[] }, number][] = [
      [{}, 60],
      [{ cc: 'max-age=30' }, 30],
      [{ cc: 'max-age=600' }, 60],
      [{ cc: 's-maxage=20, max-age=600' }, 20],
      [{ cc: 'max-age=100', h: ['Age: 90'] }, 10],
    ]
    for (const [answer, lifetime] of cases) {
      const tag = newTag()
      const gw = cachedAggregate([echoCall('slow', tag), echoCall('other', tag, answer)])
      const { res } = await get(gw, tag)
      expect([answer, res.headers.get('cache-control')]).toEqual([answer, `max-age=${lifetime}, stale-while-revalidate=0, stale-if-error=0`])
      advance(lifetime - 1)
      expect((await get(gw, tag)).status).toContain('hit')
      advance(2)
      expect((await get(gw, tag)).status).not.toContain('hit')
      advance(-lifetime - 1)
    }
  })

  it('counts a call answered from its own cache with the entry\'s remaining lifetime', async () => {
    const tag = newTag()
    // No route cache: the lifetime is still computed and sent to the client.
    const gw = testGateway(aggregateConfig([echoCall('kept', tag, { cc: 'max-age=100' }, { cache: { ttl: 600 } })]), {}, { runtime: cacheRuntime })
    const first = await get(gw, tag)
    advance(40)
    const second = await get(gw, tag)
    expect([first.res.headers.get('cache-control'), second.res.headers.get('cache-control')]).toEqual([
      'max-age=100, stale-while-revalidate=0, stale-if-error=0',
      'max-age=60, stale-while-revalidate=0, stale-if-error=0',
    ])
    expect((await originStats(tag)).count).toBe(1)
  })

  it('is never served stale, whatever stale windows the route cache allows', async () => {
    const tag = newTag()
    const gw = cachedAggregate([echoCall('a', tag, { cc: 'max-age=10' })], { type: 'cache', defaultTtl: 60, staleWhileRevalidate: 600, staleIfError: 600 })
    await get(gw, tag)
    advance(11)
    const later = await get(gw, tag)
    expect(later.status).toContain('fwd=stale; fwd-status=200')
    expect((await originStats(tag)).count).toBe(2)
    // Nor when the calls fail: the client gets the failure, not the expired entry.
    advance(11)
    await fetch(`${ORIGIN}/_control/override?tag=${tag}&status=500`, { method: 'POST' })
    const failed = await gw.fetch(`/agg/${tag}`, { headers: { 'x-test-tag': tag } })
    expect(failed.status).toBe(502)
    expect(failed.headers.get('cache-status')).not.toContain('stale-if-error')
    await failed.arrayBuffer()
  })

  it('says public only when every call does: a route cache with scope "public" then shares it among credentialed clients', async () => {
    const tag = newTag()
    const cache = { type: 'cache', defaultTtl: 60, scope: 'public' }
    const shared = cachedAggregate([echoCall('a', tag, { cc: 'public, max-age=60' }), echoCall('b', tag, { cc: 's-maxage=60' })], cache)
    const first = await get(shared, tag, { authorization: 'Bearer one' })
    expect(first.res.headers.get('cache-control')).toBe('public, max-age=60, stale-while-revalidate=0, stale-if-error=0')
    expect((await get(shared, tag, { authorization: 'Bearer two' })).status).toContain('hit')
    const tag2 = newTag()
    const unsure = cachedAggregate([echoCall('a', tag2, { cc: 'public, max-age=60' }), echoCall('b', tag2, { cc: 'max-age=60' })], cache)
    expect((await get(unsure, tag2, { authorization: 'Bearer one' })).status).toContain('detail=credentials')
    expect((await get(unsure, tag2, { authorization: 'Bearer two' })).status).not.toContain('hit')
  })
})
