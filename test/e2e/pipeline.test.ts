/**
 * The whole pipeline through the real worker entry (`exports.default.fetch`, test/worker.ts with
 * test/fixtures/gateway.json): route `pipeline` has jwt + rate-limit + cache (per consumer) +
 * transform + proxy, listed in reverse. What a client sees: the order of the phases (401 before
 * any limit, 429 before the cache), RateLimit fields on misses and hits alike, Cache-Status, its
 * own request id on every answer, and no per-client header kept in the cache.
 */
import { exports } from 'cloudflare:workers'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Echo } from '../support/gateway'
import { newKey, sign, Tenant, type TestKey } from '../auth/tokens'
import { parseList } from '../rate-limit/sf'
import { settle } from '../support/runtime'

const LIMIT = 20
// The fixture's issuer is `${ISSUER_URL}/t/edgeway-pipeline`: this file's own tenant of the test issuer.
const tenant = new Tenant('edgeway-pipeline')
let key: TestKey

beforeAll(async () => {
  key = await newKey('ES256')
  await tenant.publish(key)
})

const tokenFor = (sub: string) => sign(key, tenant.issuer, { aud: 'edgeway-demo', sub })

type Seen = { status: number; cacheStatus: string | null; remaining: number | undefined; requestId: string | null; res: Response }

/** One request to the worker with its own request id (the fixture trusts well-formed incoming ids). */
async function send(path: string, token: string | undefined, extra: Record<string, string> = {}): Promise<Seen & { sentId: string }> {
  const sentId = `e2e-${crypto.randomUUID()}`
  const res = await exports.default.fetch(`http://gw.test${path}`, {
    headers: { 'x-request-id': sentId, ...(token && { authorization: `Bearer ${token}` }), ...extra },
  })
  const state = res.headers.get('ratelimit')
  const items = state ? parseList(state) : []
  // Exactly one item: a RateLimit field kept in the cache would show up as a second one.
  expect(items.length).toBeLessThanOrEqual(1)
  return { sentId, status: res.status, cacheStatus: res.headers.get('cache-status'), remaining: items[0]?.params.r as number | undefined, requestId: res.headers.get('x-request-id'), res }
}

describe('full pipeline through the worker entry', () => {
  it('jwt -> rate-limit -> cache -> transform -> proxy, as a client sees it', async () => {
    const sub = `e2e-${crypto.randomUUID()}`
    const token = await tokenFor(sub)
    const path = `/pipeline/${crypto.randomUUID()}`

    // No token: 401 from the auth phase; no limit consumed, no cache involved; the request id is there.
    const anonymous = await send(path, undefined)
    expect(anonymous.status).toBe(401)
    expect(anonymous.res.headers.get('www-authenticate')).toBe('Bearer')
    expect(anonymous.res.headers.get('content-type')).toBe('application/problem+json')
    expect(anonymous.cacheStatus).toBeNull()
    expect(anonymous.res.headers.get('ratelimit')).toBeNull()
    expect(anonymous.requestId).toBe(anonymous.sentId)
    expect(((await anonymous.res.json()) as { instance: string }).instance).toBe(anonymous.sentId)

    // The miss: counted, stored, transformed, with the verified identity (never the spoofed one) at the origin.
    const miss = await send(path, token, { 'x-user-id': 'spoofed', 'x-consumer': 'spoofed' })
    expect(miss.status).toBe(200)
    expect(miss.cacheStatus).toBe('edgeway; fwd=uri-miss; fwd-status=200; stored')
    expect(miss.res.headers.get('ratelimit-policy')).toBe(`"pipeline";q=${LIMIT};w=3600`)
    expect(miss.remaining).toBe(LIMIT - 1)
    expect(miss.requestId).toBe(miss.sentId)
    expect(miss.res.headers.get('x-transformed')).toBe('1')
    const echo = (await miss.res.json()) as Echo
    expect(echo.path).toBe(`/echo${path.slice('/pipeline'.length)}`)
    expect(echo.headers['x-user-id']).toBe(sub)
    expect(echo.headers['x-consumer']).toBe(sub)
    expect(echo.headers['x-request-id']).toBe(miss.sentId)
    expect(echo.headers.authorization).toBeUndefined()
    let used = 1

    // The store finishes in waitUntil: ask again (bounded) until the hit. Every ask is counted.
    let hit: (Seen & { sentId: string }) | undefined
    for (let i = 0; i < 10 && !hit; i++) {
      const again = await send(path, token)
      used++
      expect(again.status).toBe(200)
      expect(again.remaining).toBe(LIMIT - used)
      if (again.cacheStatus?.includes('hit')) hit = again
      else {
        await again.res.body?.cancel()
        await settle()
      }
    }
    expect(hit?.cacheStatus).toMatch(/^edgeway; hit; ttl=(60|5\d)$/)
    // Per-client headers are this request's own: its id, its RateLimit state (one item, counted).
    expect(hit!.requestId).toBe(hit!.sentId)
    expect(hit!.res.headers.get('ratelimit-policy')).toBe(`"pipeline";q=${LIMIT};w=3600`)
    expect(hit!.res.headers.get('age')).toMatch(/^\d+$/)
    expect(hit!.res.headers.get('x-transformed')).toBe('1')
    // The body is the stored one: what the origin answered for the miss.
    const stored = (await hit!.res.json()) as Echo
    expect(stored.headers['x-request-id']).toBe(miss.sentId)

    // Another consumer on the same URL: its own counter, its own cache entry.
    const other = await send(path, await tokenFor(`e2e-${crypto.randomUUID()}`))
    expect(other.cacheStatus).toBe('edgeway; fwd=uri-miss; fwd-status=200; stored')
    expect(other.remaining).toBe(LIMIT - 1)
    await other.res.body?.cancel()

    // Hits count: use up the limit with hits, then a 429 answered before the cache.
    while (used < LIMIT) {
      const more = await send(path, token)
      used++
      expect(more.cacheStatus).toMatch(/^edgeway; hit/)
      expect(more.remaining).toBe(LIMIT - used)
      await more.res.body?.cancel()
    }
    const limited = await send(path, token)
    expect(limited.status).toBe(429)
    expect(limited.cacheStatus).toBeNull()
    expect(limited.remaining).toBe(0)
    expect(Number(limited.res.headers.get('retry-after'))).toBeGreaterThan(3500)
    expect(limited.requestId).toBe(limited.sentId)
    expect(await limited.res.json()).toMatchObject({ code: 'ERR_RATE_LIMITED', limit: 'pipeline', instance: limited.sentId })
  })

  it('a bad token is a 401 even for a URL that is cached for someone else', async () => {
    const path = `/pipeline/${crypto.randomUUID()}`
    const owner = await send(path, await tokenFor(`e2e-${crypto.randomUUID()}`))
    expect(owner.status).toBe(200)
    await owner.res.body?.cancel()
    const other = await newKey('ES256')
    const forged = await sign(other, tenant.issuer, { aud: 'edgeway-demo', sub: 'e2e-forged' })
    for (const token of [forged, 'not-a-token']) {
      const res = await send(path, token)
      expect(res.status).toBe(401)
      expect(res.res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
      expect(res.cacheStatus).toBeNull()
      await res.res.body?.cancel()
    }
  })
})
