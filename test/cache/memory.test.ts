/**
 * Fresh entries kept in the isolate's memory (src/http-cache/memory.ts): repeated hits don't read
 * the Cache API, and answer the same bytes and headers as a hit read from it; a read is kept at
 * most `purge.cacheSeconds` and never once stale; what this isolate writes or deletes is never
 * served from memory afterwards, and what another isolate deletes is not served past those seconds.
 * Cache API reads are counted on `caches.default.match`.
 */
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest'
import { advance, cachedGateway, cacheStatus, cc, seq, tagged } from './helpers'

let matches: MockInstance
beforeEach(() => {
  matches = vi.spyOn(caches.default, 'match')
})
afterEach(() => {
  matches.mockRestore()
})

/** A stored entry for a fresh tag, its first hit read (and kept), and the Cache API reads counted from there. */
async function keptEntry(query: string, cache: Record<string, unknown> = {}) {
  const gw = cachedGateway(cache)
  const t = tagged()
  const path = `/c/echo/${t.tag}?${query}`
  const send = (init: RequestInit = {}) => gw.fetch(path, { ...init, headers: t.headers(init.headers as Record<string, string>) })
  await (await send()).arrayBuffer()
  const first = await send()
  expect(cacheStatus(first)).toMatch(/^edgeway; hit/)
  const firstBody = await first.text()
  matches.mockClear()
  return { gw, t, path, send, first, firstBody }
}

describe('entries kept in memory', () => {
  it('repeated hits read no Cache API, and answer what the first hit did, body and headers', async () => {
    const { send, first, firstBody, t } = await keptEntry(cc('max-age=60'))
    for (let i = 0; i < 3; i++) {
      const again = await send()
      expect(cacheStatus(again)).toMatch(/^edgeway; hit; ttl=\d+$/)
      expect(await again.text()).toBe(firstBody)
      expect(again.headers.get('content-length')).toBe(first.headers.get('content-length'))
      expect(again.headers.get('content-type')).toBe(first.headers.get('content-type'))
      expect(again.headers.get('cache-control')).toBe('max-age=60')
      expect(seq(again)).toBe(1)
    }
    expect(matches).not.toHaveBeenCalled()
    expect(await t.count()).toBe(1)
    // HEAD and a conditional request are answered from the same kept entry.
    const head = await send({ method: 'HEAD' })
    expect([head.status, head.body, head.headers.get('content-length')]).toEqual([200, null, first.headers.get('content-length')])
    const etag = first.headers.get('etag')
    if (etag !== null) expect((await send({ headers: { 'if-none-match': etag } })).status).toBe(304)
    expect(matches).not.toHaveBeenCalled()
  })

  it('a read is kept for purge.cacheSeconds: then the Cache API is read again', async () => {
    const { send } = await keptEntry(cc('max-age=600'), { purge: { cacheSeconds: 10 } })
    advance(9)
    expect(cacheStatus(await send())).toMatch(/hit/)
    expect(matches).not.toHaveBeenCalled()
    advance(1)
    expect(cacheStatus(await send())).toMatch(/hit/)
    expect(matches).toHaveBeenCalledTimes(1)
  })

  it('an entry deleted from the Cache API elsewhere is served at most those seconds more', async () => {
    const { send } = await keptEntry(cc('max-age=600'), { purge: { cacheSeconds: 5 } })
    // Another isolate of the data centre deleted it (an unsafe request there): the Cache API has nothing.
    matches.mockResolvedValue(undefined)
    expect(cacheStatus(await send())).toMatch(/hit/)
    advance(5)
    expect(cacheStatus(await send())).toMatch(/^edgeway; fwd=uri-miss/)
    expect(matches).toHaveBeenCalled()
  })

  it('never served once stale: the Cache API is read, and the stale entry revalidated as before', async () => {
    const { send, t } = await keptEntry(cc('max-age=3'), { purge: { cacheSeconds: 60 } })
    advance(4)
    const stale = await send()
    expect(matches).toHaveBeenCalled()
    expect(cacheStatus(stale)).toMatch(/^edgeway; fwd=stale/)
    expect(await t.count()).toBe(2)
  })

  it('a body over 64 KiB is not kept: each hit reads the Cache API, and answers the whole body', async () => {
    const gw = cachedGateway({ maxBodyBytes: 1024 * 1024 })
    const t = tagged()
    const path = `/c/bytes?size=${64 * 1024 + 1}&${cc('max-age=60')}&t=${t.tag}`
    await (await gw.fetch(path, { headers: t.headers() })).arrayBuffer()
    matches.mockClear()
    for (let i = 0; i < 2; i++) {
      const hit = await gw.fetch(path, { headers: t.headers() })
      expect(cacheStatus(hit)).toMatch(/^edgeway; hit/)
      expect((await hit.arrayBuffer()).byteLength).toBe(64 * 1024 + 1)
    }
    expect(matches).toHaveBeenCalledTimes(2)
    expect(await t.count()).toBe(1)
  })

  it('what this isolate writes or deletes is never answered from memory', async () => {
    const { gw, send, path, t } = await keptEntry(cc('max-age=600'), { purge: { cacheSeconds: 60 } })
    // An unsafe request through this gateway deletes the entry: the next GET goes to the origin.
    await (await gw.fetch(path, { method: 'POST', headers: t.headers() })).arrayBuffer()
    const refetched = await send()
    expect(cacheStatus(refetched)).toMatch(/^edgeway; fwd=uri-miss; fwd-status=200; stored$/)
    const newer = seq(refetched)
    await refetched.arrayBuffer()
    // The entry stored anew is what the next hits answer (read once from the Cache API, then kept).
    for (let i = 0; i < 2; i++) expect(seq(await send())).toBe(newer)
  })
})
