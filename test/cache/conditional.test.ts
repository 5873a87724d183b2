/**
 * Conditional requests around the cache: the gateway answers them from what it stores, never
 * passes the client's validators to the origin on its own requests (an origin 304 is neither
 * storable nor a reason to drop an entry), and answers 304 only for a 2xx entry.
 */
import { describe, expect, it } from 'vitest'
import { originLog } from '../support/gateway'
import { advance, cachedGateway, cacheStatus, cc, h, seq, storedEntry, tagged } from './helpers'

describe('conditional requests never cost an entry', () => {
  // The origin answers a matching If-None-Match with 304 (`conditional=1`), as real ones do.
  const path = (tag: string, cacheControl: string) => `/c/echo/${tag}?${cc(cacheControl)}&${h('ETag', '"v1"')}&conditional=1`

  it('a conditional miss: the origin gets no validators, the entry is stored, the client gets its 304', async () => {
    const gw = cachedGateway()
    const t = tagged()
    const url = path(t.tag, 'max-age=60')
    const first = await gw.fetch(url, { headers: t.headers({ 'If-None-Match': '"v1"' }) })
    expect(first.status).toBe(304)
    expect(first.headers.get('etag')).toBe('"v1"')
    expect(cacheStatus(first)).toBe('edgeway; fwd=uri-miss; fwd-status=200; stored')
    expect((await originLog(t.tag))[0]!.headers['if-none-match']).toBeUndefined()
    const plain = await gw.fetch(url, { headers: t.headers() })
    expect(plain.status).toBe(200)
    expect(cacheStatus(plain)).toMatch(/^edgeway; hit/)
    expect(await t.count()).toBe(1)
  })

  it('a conditional request on a stale entry: revalidated with the entry\'s own validators and stored again, not dropped', async () => {
    const { t, send } = await storedEntry((tag) => path(tag, 'max-age=10'))
    advance(11)
    const res = await send({ 'If-None-Match': '"v1"' })
    expect(res.status).toBe(304)
    expect(cacheStatus(res)).toBe('edgeway; fwd=stale; fwd-status=304; stored')
    expect((await originLog(t.tag))[1]!.headers['if-none-match']).toBe('"v1"')
    const after = await send()
    expect(cacheStatus(after)).toMatch(/^edgeway; hit; ttl=\d+$/)
    expect(seq(after)).toBe(2)
    expect(await t.count()).toBe(2)
  })

  it("a stale-while-revalidate refresh started by a conditional request refreshes the entry; the origin never sees the client's validators", async () => {
    const { t, send } = await storedEntry((tag) => path(tag, 'max-age=10, stale-while-revalidate=60'))
    advance(15)
    const stale = await send({ 'If-None-Match': '"v1"' })
    expect(cacheStatus(stale)).toBe('edgeway; hit; ttl=-5')
    await stale.arrayBuffer()
    const after = await send()
    expect(cacheStatus(after)).toMatch(/^edgeway; hit; ttl=\d+$/)
    expect(seq(after)).toBe(2)
    expect((await originLog(t.tag)).map((r) => r.headers['if-none-match'])).toEqual([undefined, undefined])
  })

  it('If-Match and If-Unmodified-Since go to the origin untouched, past the cache', async () => {
    const { t, send } = await storedEntry((tag) => path(tag, 'max-age=60'))
    const res = await send({ 'If-Match': '"v0"' })
    expect(cacheStatus(res)).toBe('edgeway; fwd=bypass; detail=precondition')
    expect((await originLog(t.tag))[1]!.headers['if-match']).toBe('"v0"')
    expect(cacheStatus(await send())).toMatch(/^edgeway; hit/)
  })
})

describe('304 only from a 2xx entry (RFC 9110 section 13.2.1)', () => {
  it('a cached 404 with an ETag is answered in full, whatever the validators', async () => {
    const { gw, t, url } = await storedEntry(() => `/c/status/404?${cc('max-age=60')}&${h('ETag', '"gone"')}&${h('Last-Modified', 'Sun, 01 Feb 2026 10:00:00 GMT')}`)
    const conditionals: Record<string, string>[] = [{ 'If-None-Match': '"gone"' }, { 'If-Modified-Since': 'Mon, 02 Feb 2026 10:00:00 GMT' }]
    for (const conditional of conditionals) {
      const res = await gw.fetch(url, { headers: t.headers(conditional) })
      expect(res.status).toBe(404)
      expect(cacheStatus(res)).toMatch(/^edgeway; hit/)
      expect(await res.json()).toEqual({ status: 404 })
    }
    expect(await t.count()).toBe(1)
  })
})
