/**
 * `Vary` keys: a variant is found under the key it was stored under. Lookup and store both read the
 * upstream request as the cache phase sees it (before transforms); a response that varies on a
 * header a transform writes is not stored, since the key can't see the value the origin got.
 */
import { describe, expect, it } from 'vitest'
import { advance, cachedGateway, cacheStatus, cc, h, seq, tagged } from './helpers'

type Echo = { headers: Record<string, string> }

describe('Vary and transforms', () => {
  it("a varied header a transform sets from another header: one tenant's response never reaches another", async () => {
    // X-Org is keyed (validation insists: the transform sends it upstream); X-Tenant, which the origin varies on, is written by the transform.
    const gw = cachedGateway({ keyHeaders: ['X-Org'] }, { policies: [{ type: 'headers', request: { set: { 'X-Tenant': '{headers.x-org}' } } }] })
    const t = tagged()
    const url = `/c/echo/${t.tag}?${cc('public, max-age=60')}&${h('Vary', 'X-Tenant')}`
    const as = async (org: string, tenant: string) => {
      const res = await gw.fetch(url, { headers: t.headers({ 'X-Org': org, 'X-Tenant': tenant }) })
      return { res, tenant: ((await res.json()) as Echo).headers['x-tenant'] }
    }
    const a = await as('a', 'b')
    expect(a.tenant).toBe('a')
    expect(cacheStatus(a.res)).toBe('edgeway; fwd=uri-miss; fwd-status=200; detail=vary-transformed')
    // Before the fix, B (X-Tenant: a) was served A's entry, stored under the transformed "a".
    const b = await as('b', 'a')
    expect(b.tenant).toBe('b')
    // Keying on the client's X-Tenant alone would hand C A's response (stored under "b").
    const c = await as('b', 'b')
    expect(c.tenant).toBe('b')
    expect(await t.count()).toBe(3)
  })

  it('a varied header a transform removes: entries are stored under the key the lookup uses, and found again (refresh too)', async () => {
    const gw = cachedGateway({}, { policies: [{ type: 'headers', request: { remove: ['Accept-Language'] } }] })
    const t = tagged()
    const url = `/c/echo/${t.tag}?${cc('max-age=10, stale-while-revalidate=60')}&${h('Vary', 'Accept-Language')}`
    const en = () => gw.fetch(url, { headers: t.headers({ 'Accept-Language': 'en' }) })
    const first = await en()
    expect(cacheStatus(first)).toBe('edgeway; fwd=uri-miss; fwd-status=200; stored')
    expect(((await first.json()) as Echo).headers['accept-language']).toBeUndefined()
    // Before the fix the entry sat under "accept-language: " while lookups asked for "en": never a hit.
    const second = await en()
    expect(cacheStatus(second)).toMatch(/^edgeway; hit; ttl=\d+$/)
    expect(seq(second)).toBe(1)
    advance(15)
    expect(cacheStatus(await en())).toBe('edgeway; hit; ttl=-5') // stale, refreshed in the background
    const refreshed = await en()
    expect(cacheStatus(refreshed)).toMatch(/^edgeway; hit; ttl=\d+$/)
    expect(seq(refreshed)).toBe(2)
    expect(await t.count()).toBe(2)
  })
})
