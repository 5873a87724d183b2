/**
 * Revalidation (RFC 9111 section 4.3): a stored response that can't be served as it is goes back to
 * the origin with its own validators; a 304 freshens its headers and its stored body is served.
 */
import { describe, expect, it } from 'vitest'
import { originLog } from '../support/gateway'
import { advance, cachedGateway, cacheStatus, cc, h, seq, storedEntry, tagged } from './helpers'

// The test origin answers a matching If-None-Match with a 304 carrying the same extra headers.
const path = (tag: string, cacheControl: string, more = '') => `/c/echo/${tag}?${cc(cacheControl)}&${h('ETag', '"v1"')}&conditional=1${more}`

describe('revalidation', () => {
  it('a stale entry is revalidated: the 304 updates the stored headers, the stored body is served, Content-Length is kept', async () => {
    const { t, send } = await storedEntry((tag) => path(tag, 'max-age=10'))
    const original = await (await send()).text()
    advance(11)
    const res = await send()
    expect(res.status).toBe(200)
    expect(cacheStatus(res)).toBe('edgeway; fwd=stale; fwd-status=304; stored')
    expect(await res.text()).toBe(original)
    expect(seq(res)).toBe(2) // the 304's own x-origin-seq replaced the stored one
    expect(res.headers.get('content-length')).toBe(String(new TextEncoder().encode(original).length))
    const log = await originLog(t.tag)
    expect(log[1]!.headers['if-none-match']).toBe('"v1"')
    const after = await send()
    expect(cacheStatus(after)).toMatch(/^edgeway; hit; ttl=\d+$/)
    expect(after.headers.get('content-length')).toBe(String(new TextEncoder().encode(original).length))
    expect(await t.count()).toBe(2)
  })

  it('no-cache with a validator is stored, and revalidated on every use; without one it is not stored', async () => {
    const { t, send } = await storedEntry((tag) => path(tag, 'no-cache'))
    for (const _ of [1, 2]) {
      const res = await send()
      expect(cacheStatus(res)).toBe('edgeway; fwd=stale; fwd-status=304; stored')
      await res.arrayBuffer()
    }
    expect(await t.count()).toBe(3)
    expect((await originLog(t.tag)).slice(1).every((entry) => entry.headers['if-none-match'] === '"v1"')).toBe(true)

    const gw = cachedGateway({ defaultTtl: 60 })
    const u = tagged()
    for (const _ of [1, 2]) await (await gw.fetch(`/c/echo/${u.tag}?${cc('no-cache')}`, { headers: u.headers() })).arrayBuffer()
    expect((await originLog(u.tag)).every((entry) => entry.headers['if-none-match'] === undefined)).toBe(true)
  })

  it('must-revalidate past its lifetime is revalidated; a full 200 replaces the entry', async () => {
    const { t, send } = await storedEntry((tag) => path(tag, 'max-age=10, must-revalidate', `&${h('Last-Modified', 'Sun, 01 Mar 2026 12:00:00 GMT')}`))
    advance(11)
    expect(cacheStatus(await send())).toBe('edgeway; fwd=stale; fwd-status=304; stored')
    // From now on the origin has a new version: it no longer matches "v1".
    await t.override('status=200')
    advance(11)
    const replaced = await send()
    // The new version has no freshness of its own: served, not stored, and the old entry is gone.
    expect(cacheStatus(replaced)).toBe('edgeway; fwd=stale; fwd-status=200; detail=no-ttl')
    expect(await replaced.json()).toMatchObject({ overridden: true })
    expect(cacheStatus(await send())).toMatch(/^edgeway; fwd=uri-miss/)
    expect((await originLog(t.tag))[2]!.headers['if-modified-since']).toBe('Sun, 01 Mar 2026 12:00:00 GMT')
  })
})
