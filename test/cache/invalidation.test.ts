/**
 * Invalidation (RFC 9111 section 4.4): a non-error answer to an unsafe method drops the stored
 * responses of its target URI and of the same-origin URIs it names, here at once and elsewhere
 * through the path's purge generation.
 */
import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { captureEvents } from '../gateway/helpers'
import { invalidatedSince, recordInvalidation } from '../../src/cache/invalidated'
import { ORIGIN, originEvents } from '../support/gateway'
import { pathKey } from '../support/generations'
import { pollUntil } from '../support/runtime'
import { advance, cachedGateway, cacheStatus, cc, h, storedEntry, tagged } from './helpers'

const pathGeneration = async (path: string) => env.CACHE_KV.get(await pathKey(path))

describe('invalidation by unsafe methods', () => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'PROPFIND']) {
    it(`a 2xx to ${method} drops the stored response at once and bumps the path's generation`, async () => {
      const { gw, t, url, send } = await storedEntry((tag) => `/c/echo/${tag}?${cc('max-age=600')}`)
      expect(cacheStatus(await send())).toMatch(/^edgeway; hit/)
      const changed = await gw.fetch(url, { method, headers: t.headers() })
      expect(changed.status).toBe(200)
      await changed.arrayBuffer()
      const after = await send()
      expect(cacheStatus(after)).toMatch(/^edgeway; fwd=uri-miss/)
      await after.arrayBuffer()
      // The generation is the gateway path's (`/c/echo/<tag>`), written in the background.
      await expect.poll(() => pathGeneration(`/c/echo/${t.tag}`)).toMatch(/^[a-z0-9]+-[0-9a-f]{8}$/)
    })
  }

  it('a GET sent before an invalidation of its path and answered after it is not stored: the next GET goes to the origin', async () => {
    // With or without a purge generation bump behind it: the bump lands later, or never (past the budget).
    for (const cache of [{}, { invalidationWritesPerMinute: 0 }]) {
      const gw = cachedGateway(cache)
      const t = tagged()
      const url = `/c/echo/${t.tag}?${cc('max-age=600')}`
      await fetch(`${ORIGIN}/_control/hold?tag=${t.tag}`, { method: 'POST' })
      const reading = gw.fetch(url, { headers: t.headers() })
      expect(await pollUntil(() => originEvents(t.tag), (events) => events.includes('held'))).toContain('held')
      // Meanwhile the resource changes: a POST to the path, answered 200, invalidates it.
      const changed = await gw.fetch(`/c/echo/${t.tag}`, { method: 'POST', headers: t.headers() })
      expect(changed.status).toBe(200)
      await changed.arrayBuffer()
      await fetch(`${ORIGIN}/_control/release?tag=${t.tag}`, { method: 'POST' })
      const old = await reading
      expect(old.status).toBe(200)
      expect(cacheStatus(old)).toBe('edgeway; fwd=uri-miss; fwd-status=200; detail=invalidated')
      await old.arrayBuffer()
      advance(1)
      const next = await gw.fetch(url, { headers: t.headers() })
      expect(cacheStatus(next)).toBe('edgeway; fwd=uri-miss; fwd-status=200; stored')
      await next.arrayBuffer()
      expect(cacheStatus(await gw.fetch(url, { headers: t.headers() }))).toMatch(/^edgeway; hit/)
      expect(await t.count()).toBe(3)
    }
  })

  it('a large body being stored in the background when its path is invalidated is not stored', async () => {
    // Past the budget (0 here) no generation bump marks the entry purged: only not storing it helps.
    const gw = cachedGateway({ invalidationWritesPerMinute: 0 })
    const t = tagged()
    // Over the 64 KiB a store awaits: the client streams it, the store's copy is written in the background.
    const url = `/c/bytes?size=${160 * 1024}&${cc('max-age=600')}`
    await fetch(`${ORIGIN}/_control/hold?tag=${t.tag}&at=${64 * 1024}`, { method: 'POST' })
    // The test gateway's fetch returns once the background work is done: here, after the release.
    const reading = gw.fetch(url, { headers: t.headers() })
    expect(await pollUntil(() => originEvents(t.tag), (events) => events.includes('held-body'))).toContain('held-body')
    const changed = await gw.fetch('/c/bytes', { method: 'POST', headers: t.headers() })
    expect(changed.status).toBe(200)
    await changed.arrayBuffer()
    await fetch(`${ORIGIN}/_control/release?tag=${t.tag}`, { method: 'POST' })
    const old = await reading
    expect(cacheStatus(old)).toBe('edgeway; fwd=uri-miss; fwd-status=200')
    expect((await old.text()).length).toBe(160 * 1024)
    // Its background write found the path invalidated: nothing stored, the next GET goes to the origin.
    const next = await gw.fetch(url, { headers: t.headers() })
    expect(cacheStatus(next)).toMatch(/^edgeway; fwd=uri-miss/)
    await next.body?.cancel()
    expect(await t.count()).toBe(3)
  })

  it('the record of invalidated paths is bounded by its characters; started afresh, it refuses what was sent before', () => {
    // Times far below the clock's: the record's state is the isolate's, shared with other tests.
    const origin = `http://bound-${crypto.randomUUID()}.test`
    recordInvalidation(origin, '/a', 1000)
    expect([invalidatedSince(origin, '/a', 999), invalidatedSince(origin, '/a', 1000), invalidatedSince(origin, '/a', 1001)]).toEqual([true, true, false])
    expect(invalidatedSince(origin, '/b', 500)).toBe(false)
    // Paths are the clients': three of 100 KiB pass the 256 KiB bound, and the record starts afresh at 2000.
    for (let i = 0; i < 3; i++) recordInvalidation(origin, `/${'p'.repeat(100 * 1024)}/${i}`, 2000)
    expect(invalidatedSince(origin, '/b', 1500)).toBe(true)
    expect(invalidatedSince(origin, '/b', 2001)).toBe(false)
  })

  it('an error answer invalidates nothing', async () => {
    const { gw, t, url, send } = await storedEntry((tag) => `/c/echo/${tag}?${cc('max-age=600')}`)
    const failed = await gw.fetch(`${url}&status=500`, { method: 'POST', headers: t.headers() })
    expect(failed.status).toBe(500)
    await failed.arrayBuffer()
    expect(cacheStatus(await send())).toMatch(/^edgeway; hit/)
  })

  it('Location and Content-Location on the same origin are invalidated too; another origin is not', async () => {
    const gw = cachedGateway()
    const t = tagged()
    const item = (name: string) => `/c/echo/${t.tag}/${name}?${cc('max-age=600')}`
    for (const name of ['a', 'b', 'c']) await (await gw.fetch(item(name), { headers: t.headers() })).arrayBuffer()
    const names = `${h('Location', `http://gateway.test${item('a')}`)}&${h('Content-Location', item('b'))}`
    const elsewhere = h('Location', `http://other.test${item('c')}`)
    for (const query of [names, elsewhere]) {
      const created = await gw.fetch(`/c/echo/${t.tag}/new?${query}`, { method: 'POST', headers: t.headers() })
      expect(created.status).toBe(200)
      await created.arrayBuffer()
    }
    const statuses = await Promise.all(['a', 'b', 'c'].map(async (name) => cacheStatus(await gw.fetch(item(name), { headers: t.headers() }))))
    expect(statuses.map((s) => s?.split(';')[1]?.trim())).toEqual(['fwd=uri-miss', 'fwd=uri-miss', 'hit'])
  })

  it('a purge store that fails never fails the request', async () => {
    // A binding that is not a KV namespace: reading and bumping generations both fail.
    const gw = cachedGateway({ defaultTtl: 600, purge: { kv: 'ORIGIN_URL' } })
    const t = tagged()
    const res = await gw.fetch(`/c/echo/${t.tag}`, { method: 'DELETE', headers: t.headers() })
    expect(res.status).toBe(200)
    expect(cacheStatus(res)).toBe('edgeway; fwd=method; detail=method')
  })

  describe('carried to other locations while the isolate\'s budget of KV writes lasts', () => {
    afterEach(() => vi.restoreAllMocks())

    it('past invalidationWritesPerMinute, an invalidation deletes here only (no KV write) and is logged; the budget refills', async () => {
      const events = captureEvents()
      const gw = cachedGateway({ defaultTtl: 600, invalidationWritesPerMinute: 2 })
      const t = tagged()
      const url = (n: number) => `/c/echo/${t.tag}/${n}?${cc('max-age=600')}`
      for (let n = 1; n <= 5; n++) await (await gw.fetch(url(n), { headers: t.headers() })).arrayBuffer()
      const post = async (n: number) => {
        const res = await gw.fetch(url(n), { method: 'POST', headers: t.headers() })
        expect(res.status).toBe(200)
        await res.arrayBuffer()
      }
      for (let n = 1; n <= 4; n++) await post(n)
      // The first two spend the budget: their paths' generations are bumped in KV.
      await expect.poll(() => pathGeneration(`/c/echo/${t.tag}/1`)).toMatch(/^[a-z0-9]+-[0-9a-f]{8}$/)
      await expect.poll(() => pathGeneration(`/c/echo/${t.tag}/2`)).toMatch(/^[a-z0-9]+-[0-9a-f]{8}$/)
      // Half a minute refills one write: the fifth is carried again.
      advance(30)
      await post(5)
      await expect.poll(() => pathGeneration(`/c/echo/${t.tag}/5`)).toMatch(/^[a-z0-9]+-[0-9a-f]{8}$/)
      // The third and fourth were deleted here all the same, and never written to KV.
      for (const n of [3, 4]) {
        expect(cacheStatus(await gw.fetch(url(n), { headers: t.headers() }))).toMatch(/^edgeway; fwd=uri-miss/)
        expect(await pathGeneration(`/c/echo/${t.tag}/${n}`)).toBeNull()
      }
      expect(events().filter((e) => e.event === 'cache_invalidation_not_propagated')).toEqual([
        expect.objectContaining({ route: 'cached', invalidations: 1, writesPerMinute: 2 }),
      ])
    })

    it('0 keeps every invalidation in this data centre', async () => {
      const gw = cachedGateway({ defaultTtl: 600, invalidationWritesPerMinute: 0 })
      const t = tagged()
      const url = `/c/echo/${t.tag}?${cc('max-age=600')}`
      await (await gw.fetch(url, { headers: t.headers() })).arrayBuffer()
      const changed = await gw.fetch(url, { method: 'DELETE', headers: t.headers() })
      expect(changed.status).toBe(200)
      await changed.arrayBuffer()
      expect(cacheStatus(await gw.fetch(url, { headers: t.headers() }))).toMatch(/^edgeway; fwd=uri-miss/)
      expect(await pathGeneration(`/c/echo/${t.tag}`)).toBeNull()
    })
  })
})
