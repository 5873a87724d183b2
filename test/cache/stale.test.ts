/** stale-while-revalidate (one refresh per isolate) and stale-if-error, end to end. */
import { describe, expect, it } from 'vitest'
import { advance, cachedGateway, cacheStatus, cc, seq, storedEntry, tagged } from './helpers'

describe('stale-while-revalidate', () => {
  it('N concurrent requests for a stale entry are all served stale and cause exactly one refresh', async () => {
    const gw = cachedGateway()
    const t = tagged()
    // The origin is slow, so every request arrives while the refresh is still in flight.
    const url = `/c/echo/${t.tag}?${cc('max-age=10, stale-while-revalidate=60')}&delay=300`
    await (await gw.fetch(url, { headers: t.headers() })).arrayBuffer()
    advance(15)
    const responses = await Promise.all(Array.from({ length: 8 }, () => gw.fetch(url, { headers: t.headers() })))
    for (const res of responses) {
      expect(res.status).toBe(200)
      expect(cacheStatus(res)).toBe('edgeway; hit; ttl=-5')
      expect(seq(res)).toBe(1)
      await res.arrayBuffer()
    }
    expect(await t.count()).toBe(2)
    // The refresh stored a fresh entry: the next request is a plain hit on it.
    const after = await gw.fetch(url, { headers: t.headers() })
    expect(cacheStatus(after)).toMatch(/^edgeway; hit; ttl=\d+$/)
    expect(seq(after)).toBe(2)
    expect(await t.count()).toBe(2)
  })

  it('the route default stale-while-revalidate applies when the origin gives none', async () => {
    const { t, send } = await storedEntry((tag) => `/c/echo/${tag}?${cc('max-age=10')}`, { staleWhileRevalidate: 30 })
    advance(20)
    expect(cacheStatus(await send())).toBe('edgeway; hit; ttl=-10')
    expect(await t.count()).toBe(2)
  })

  it('a refresh that fails keeps the stale entry; one that says no-store removes it', async () => {
    // `cc` is not part of the key, so the same entry can be refreshed by an answer that says no-store.
    const { gw, t, send } = await storedEntry((tag) => `/c/echo/${tag}?${cc('max-age=10, stale-while-revalidate=60')}`, { query: { exclude: ['cc'] } })
    advance(15)
    await t.override('status=503')
    expect(seq(await send())).toBe(1)
    expect(cacheStatus(await send())).toBe('edgeway; hit; ttl=-5')
    expect(await t.count()).toBe(3)

    await t.override('mode=off')
    const noStore = `/c/echo/${t.tag}?${cc('no-store')}`
    const stale = await gw.fetch(noStore, { headers: t.headers() })
    expect(cacheStatus(stale)).toBe('edgeway; hit; ttl=-5')
    expect(seq(stale)).toBe(1)
    expect(await t.count()).toBe(4) // the refresh, answered no-store
    const gone = await send()
    expect(cacheStatus(gone)).toBe('edgeway; fwd=uri-miss; fwd-status=200; stored')
    expect(seq(gone)).toBe(5)
  })

  it('a refresh answered with a response that may not be stored drops the entry', async () => {
    const { t, send } = await storedEntry((tag) => `/c/echo/${tag}?${cc('max-age=10, stale-while-revalidate=60')}`)
    advance(15)
    await t.override('status=404') // a 404 with no freshness information: not storable
    expect(cacheStatus(await send())).toBe('edgeway; hit; ttl=-5')
    const next = await send()
    expect(next.status).toBe(404)
    expect(cacheStatus(next)).toMatch(/^edgeway; fwd=uri-miss/)
  })
})

describe('stale-if-error', () => {
  it('serves the stale entry when the origin answers 500, or cannot be reached; not after the window', async () => {
    const { t, send } = await storedEntry((tag) => `/c/echo/${tag}?${cc('max-age=10, stale-if-error=300')}`)
    advance(20)
    await t.override('status=500')
    const stale = await send()
    expect(stale.status).toBe(200)
    expect(seq(stale)).toBe(1)
    expect(stale.headers.get('age')).toBe('20')
    expect(cacheStatus(stale)).toBe('edgeway; fwd=stale; fwd-status=500; ttl=-10; detail=stale-if-error')

    await t.override('mode=reset')
    const unreachable = await send()
    expect(unreachable.status).toBe(200)
    expect(cacheStatus(unreachable)).toBe('edgeway; fwd=stale; fwd-status=502; ttl=-10; detail=stale-if-error')

    advance(300)
    await t.override('status=500')
    const late = await send()
    expect(late.status).toBe(500)
    expect(cacheStatus(late)).toMatch(/^edgeway; fwd=stale; fwd-status=500; detail=status/)
  })

  it('a working origin replaces the stale entry', async () => {
    const { send } = await storedEntry((tag) => `/c/echo/${tag}?${cc('max-age=10')}`, { staleIfError: 300 })
    advance(20)
    const fresh = await send()
    expect(cacheStatus(fresh)).toBe('edgeway; fwd=stale; fwd-status=200; stored')
    expect(seq(fresh)).toBe(2)
  })

  it('must-revalidate: an origin error is passed on, never hidden by a stale entry', async () => {
    const { t, send } = await storedEntry((tag) => `/c/echo/${tag}?${cc('max-age=10, must-revalidate')}`, { staleIfError: 300 })
    advance(20)
    await t.override('status=500')
    expect((await send()).status).toBe(500)
  })
})
