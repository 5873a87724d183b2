/**
 * `Cache-Status: stored` only when the write succeeded (RFC 9211 section 2.6): a small complete body
 * is written before the answer leaves; a large one streams at once and says nothing about storing.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { AWAITED_BODY_BYTES } from '../../src/cache/lookup'
import { pollUntil } from '../support/runtime'
import { cachedGateway, cacheStatus, cc, seq, tagged } from './helpers'

afterEach(() => {
  vi.restoreAllMocks()
})

describe('Cache-Status says stored only of a write that succeeded', () => {
  it('a small body without Content-Length (chunked) is stored before the answer: the very next request is a hit', async () => {
    const gw = cachedGateway()
    const t = tagged()
    const url = `/c/echo/${t.tag}?${cc('max-age=60')}`
    const first = await gw.fetch(url, { headers: t.headers() })
    expect(cacheStatus(first)).toBe('edgeway; fwd=uri-miss; fwd-status=200; stored')
    // No wait for background work: the entry is there once the answer is.
    const second = await gw.fetch(url, { headers: t.headers() })
    expect(cacheStatus(second)).toMatch(/^edgeway; hit/)
    expect(await second.json()).toEqual(await first.json())
    expect(await t.count()).toBe(1)
  })

  it('a chunked body over maxBodyBytes is answered in full and said not stored (too-large), never "stored"', async () => {
    const gw = cachedGateway({ maxBodyBytes: 40_000 })
    const t = tagged()
    const url = `/c/bytes?size=50000&chunked=1&${cc('max-age=60')}`
    const first = await gw.fetch(url, { headers: t.headers() })
    expect(cacheStatus(first)).toBe('edgeway; fwd=uri-miss; fwd-status=200; detail=too-large')
    expect((await first.text()).length).toBe(50_000)
    const second = await gw.fetch(url, { headers: t.headers() })
    expect(cacheStatus(second)).toBe('edgeway; fwd=uri-miss; fwd-status=200; detail=too-large')
    await second.body?.cancel()
    expect(await t.count()).toBe(2)
  })

  for (const chunked of [false, true]) {
    it(`a body over ${AWAITED_BODY_BYTES} bytes (${chunked ? 'chunked' : 'with Content-Length'}) streams at once, says nothing about storing, and is stored in the background`, async () => {
      const gw = cachedGateway()
      const t = tagged()
      const size = AWAITED_BODY_BYTES * 2
      const url = `/c/bytes?size=${size}${chunked ? '&chunked=1' : ''}&${cc('max-age=60')}`
      const first = await gw.fetch(url, { headers: t.headers() })
      expect(cacheStatus(first)).toBe('edgeway; fwd=uri-miss; fwd-status=200')
      expect(gw.logs.at(-1)?.cache).toBe('fwd=uri-miss; fwd-status=200')
      expect((await first.text()).length).toBe(size)
      const later = await pollUntil(
        async () => {
          const res = await gw.fetch(url, { headers: t.headers() })
          await res.body?.cancel()
          return res
        },
        (res) => /hit/.test(cacheStatus(res) ?? ''),
      )
      expect(cacheStatus(later)).toMatch(/^edgeway; hit/)
      expect(seq(later)).toBe(1)
    })
  }

  it('a Cache API write that fails is never "stored": detail=store-failed, and the next request goes to the origin', async () => {
    // The platform's cache refusing the put (a full or broken store), for this test's named cache only.
    const name = `failing-${crypto.randomUUID()}`
    const open = caches.open.bind(caches)
    vi.spyOn(caches, 'open').mockImplementation(async (cacheName: string) => {
      const real = await open(cacheName)
      if (cacheName !== name) return real
      return {
        match: (request: RequestInfo, options?: CacheQueryOptions) => real.match(request, options),
        delete: (request: RequestInfo, options?: CacheQueryOptions) => real.delete(request, options),
        put: () => Promise.reject(new Error('Cache storage failed')),
      } as unknown as Cache
    })
    const gw = cachedGateway({ cacheName: name })
    const t = tagged()
    const url = `/c/echo/${t.tag}?${cc('max-age=60')}`
    const first = await gw.fetch(url, { headers: t.headers() })
    expect(cacheStatus(first)).toBe('edgeway; fwd=uri-miss; fwd-status=200; detail=store-failed')
    expect(seq(first)).toBe(1)
    await first.arrayBuffer()
    const second = await gw.fetch(url, { headers: t.headers() })
    expect(cacheStatus(second)).toBe('edgeway; fwd=uri-miss; fwd-status=200; detail=store-failed')
    expect(seq(second)).toBe(2)
    await second.arrayBuffer()
  })
})
