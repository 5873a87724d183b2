/** The cache policy end to end: freshness, Age, Cache-Status, conditional requests, Vary, keys. */
import { describe, expect, it } from 'vitest'
import { originConfig, testGateway } from '../support/gateway'
import { advance, cachedGateway, cacheStatus, cc, h, seq, storedEntry, tagged } from './helpers'

describe('freshness, end to end', () => {
  // [origin query, route options, stored?, seconds later, refetched then?]
  const table: [string, string, Record<string, unknown>, boolean, number?, boolean?][] = [
    ['max-age: fresh before, refetched after', cc('max-age=60'), {}, true, 59, false],
    ['max-age: refetched once stale', cc('max-age=60'), {}, true, 61, true],
    ['s-maxage wins over max-age', cc('max-age=600, s-maxage=10'), {}, true, 11, true],
    ['Expires', `${h('Expires', new Date(Date.now() + 120_000).toUTCString())}&${h('Date', new Date().toUTCString())}`, {}, true, 100, false],
    ['no headers: the route default TTL', '', { defaultTtl: 30 }, true, 31, true],
    ['no headers, no default: not stored', '', {}, false],
    ['no-store', cc('no-store'), { defaultTtl: 30 }, false],
    ['private', cc('private, max-age=60'), {}, false],
    ['no-cache', cc('no-cache'), { defaultTtl: 30 }, false],
    ["the origin's Set-Cookie (even one named like a sticky cookie; the gateway's own: sticky.test.ts)", `${cc('public, max-age=60')}&${h('Set-Cookie', 'sticky=a1; Path=/')}`, {}, false],
    ['Vary: *', `${cc('max-age=60')}&${h('Vary', '*')}`, {}, false],
    ['maxTtl caps the lifetime', cc('max-age=3600'), { maxTtl: 20 }, true, 21, true],
  ]
  for (const [name, query, options, stored, later, refetched] of table) {
    it(name, async () => {
      const gw = cachedGateway(options)
      const t = tagged()
      const url = `/c/echo/${t.tag}?${query}`
      const first = await gw.fetch(url, { headers: t.headers() })
      expect(first.status).toBe(200)
      expect(cacheStatus(first)).toMatch(stored ? /^edgeway; fwd=uri-miss; fwd-status=200; stored$/ : /^edgeway; fwd=uri-miss; fwd-status=200; detail=/)
      await first.arrayBuffer()
      const second = await gw.fetch(url, { headers: t.headers() })
      expect(await t.count()).toBe(stored ? 1 : 2)
      if (!stored) return
      expect(cacheStatus(second)).toMatch(/^edgeway; hit; ttl=\d+$/)
      expect(seq(second)).toBe(1)
      advance(later!)
      const third = await gw.fetch(url, { headers: t.headers() })
      expect(await t.count()).toBe(refetched ? 2 : 1)
      expect(cacheStatus(third)).toMatch(refetched ? /^edgeway; fwd=stale; fwd-status=200; stored$/ : /^edgeway; hit; ttl=\d+$/)
    })
  }

  it('a 500 without explicit freshness is not stored; with max-age it is, as a 404 and a 204 are', async () => {
    const gw = cachedGateway({ defaultTtl: 60 })
    const t = tagged()
    for (const _ of [1, 2]) await (await gw.fetch(`/c/status/500?t=${t.tag}`, { headers: t.headers() })).arrayBuffer()
    expect(await t.count()).toBe(2)
    for (const status of [500, 404, 204]) {
      const url = `/c/status/${status}?${cc('max-age=60')}&t=${t.tag}`
      await (await gw.fetch(url, { headers: t.headers() })).arrayBuffer()
      const again = await gw.fetch(url, { headers: t.headers() })
      expect(again.status).toBe(status)
      expect(cacheStatus(again)).toMatch(/hit/)
      if (status === 204) expect(again.body).toBeNull()
      else expect(await again.json()).toEqual({ status })
    }
    expect(await t.count()).toBe(5)
  })

  it('CDN-Cache-Control decides for the gateway and never reaches the client', async () => {
    const gw = cachedGateway()
    const t = tagged()
    const url = `/c/echo/${t.tag}?${cc('no-store')}&${h('CDN-Cache-Control', 'max-age=60')}`
    const first = await gw.fetch(url, { headers: t.headers() })
    expect(first.headers.get('cdn-cache-control')).toBeNull()
    expect(first.headers.get('cache-control')).toBe('no-store')
    await first.arrayBuffer()
    const second = await gw.fetch(url, { headers: t.headers() })
    expect(cacheStatus(second)).toMatch(/hit/)
    expect(second.headers.get('cdn-cache-control')).toBeNull()
    expect(await t.count()).toBe(1)
  })
})

describe('Age and Cache-Status', () => {
  it('Age counts from storage (plus the origin Age) and ttl counts down, then goes negative when served stale', async () => {
    const { send } = await storedEntry((tag) => `/c/echo/${tag}?${cc('max-age=60, stale-while-revalidate=30')}&${h('Age', '5')}`)
    advance(20)
    const hit = await send()
    expect(hit.headers.get('age')).toBe('25')
    expect(cacheStatus(hit)).toBe('edgeway; hit; ttl=35')
    advance(45) // 70 s old: stale, inside stale-while-revalidate
    const stale = await send()
    expect(stale.headers.get('age')).toBe('70')
    expect(cacheStatus(stale)).toBe('edgeway; hit; ttl=-10')
    expect(stale.headers.get('cache-control')).toBe('max-age=60, stale-while-revalidate=30')
  })

  it("appends its member after the origin's own Cache-Status, and writes it to the log line", async () => {
    const gw = cachedGateway()
    const t = tagged()
    const res = await gw.fetch(`/c/echo/${t.tag}?${cc('max-age=60')}&${h('Cache-Status', 'origin-cdn; hit')}`, { headers: t.headers() })
    expect(cacheStatus(res)).toBe('origin-cdn; hit, edgeway; fwd=uri-miss; fwd-status=200; stored')
    expect(gw.logs.at(-1)?.cache).toBe('fwd=uri-miss; fwd-status=200; stored')
  })

  it('no bookkeeping header leaves the gateway; the Cache-Control, Expires and Vary the client sees are the origin\'s', async () => {
    const gw = cachedGateway()
    const t = tagged()
    const expires = new Date(Date.now() + 60_000).toUTCString()
    const url = `/c/echo/${t.tag}?${cc('max-age=60')}&${h('Expires', expires)}&${h('Vary', 'Accept')}`
    await (await gw.fetch(url, { headers: t.headers() })).arrayBuffer()
    const hit = await gw.fetch(url, { headers: t.headers() })
    expect(cacheStatus(hit)).toMatch(/hit/)
    expect([...hit.headers.keys()].filter((k) => k.startsWith('x-edgeway') || k === 'cf-cache-status')).toEqual([])
    expect(hit.headers.get('cache-control')).toBe('max-age=60')
    expect(hit.headers.get('expires')).toBe(expires)
    expect(hit.headers.get('vary')).toBe('Accept')
  })
})

describe('conditional requests', () => {
  it('If-None-Match and If-Modified-Since are answered 304 from a fresh entry', async () => {
    const gw = cachedGateway()
    const t = tagged()
    const lastModified = 'Sun, 01 Feb 2026 10:00:00 GMT'
    const url = `/c/echo/${t.tag}?${cc('max-age=60')}&${h('ETag', '"v1"')}&${h('Last-Modified', lastModified)}`
    await (await gw.fetch(url, { headers: t.headers() })).arrayBuffer()

    const inm = await gw.fetch(url, { headers: t.headers({ 'If-None-Match': 'W/"v0", W/"v1"' }) })
    expect(inm.status).toBe(304)
    expect(inm.headers.get('etag')).toBe('"v1"')
    expect(inm.headers.get('cache-control')).toBe('max-age=60')
    expect(cacheStatus(inm)).toMatch(/^edgeway; hit/)
    expect(await inm.text()).toBe('')

    const other = await gw.fetch(url, { headers: t.headers({ 'If-None-Match': '"v2"' }) })
    expect(other.status).toBe(200)
    expect((await other.json()) as object).toHaveProperty('path')

    const ims = await gw.fetch(url, { headers: t.headers({ 'If-Modified-Since': 'Mon, 02 Feb 2026 10:00:00 GMT' }) })
    expect(ims.status).toBe(304)
    const older = await gw.fetch(url, { headers: t.headers({ 'If-Modified-Since': 'Sat, 31 Jan 2026 10:00:00 GMT' }) })
    expect(older.status).toBe(200)
    await older.arrayBuffer()
    expect(await t.count()).toBe(1)
  })

  it('a stale entry does not answer 304: the request goes to the origin', async () => {
    const { t, send } = await storedEntry((tag) => `/c/echo/${tag}?${cc('max-age=10')}&${h('ETag', '"v1"')}`)
    advance(11)
    const res = await send({ 'If-None-Match': '"v1"' })
    expect(cacheStatus(res)).toMatch(/^edgeway; fwd=stale/)
    expect(await t.count()).toBe(2)
  })
})

describe('keys', () => {
  it("the origin's Vary separates entries by that request header", async () => {
    const gw = cachedGateway()
    const t = tagged()
    const url = `/c/echo/${t.tag}?${cc('max-age=60')}&${h('Vary', 'Accept-Language')}`
    const en = () => gw.fetch(url, { headers: t.headers({ 'Accept-Language': 'en' }) })
    const fr = () => gw.fetch(url, { headers: t.headers({ 'Accept-Language': 'fr' }) })
    expect(cacheStatus(await en())).toMatch(/fwd=uri-miss/)
    expect(cacheStatus(await fr())).toMatch(/fwd=vary-miss/)
    const [en2, fr2] = [await en(), await fr()]
    expect([seq(en2), seq(fr2)]).toEqual([1, 2])
    expect(cacheStatus(en2)).toMatch(/hit/)
    expect(((await fr2.json()) as { headers: Record<string, string> }).headers['accept-language']).toBe('fr')
    const none = await gw.fetch(url, { headers: t.headers() })
    expect(cacheStatus(none)).toMatch(/fwd=vary-miss/)
    expect(await t.count()).toBe(3)
  })

  it('query: order does not matter (sorted), excluded parameters are ignored, other values separate', async () => {
    const gw = cachedGateway({ query: { exclude: ['utm_source'] } })
    const t = tagged()
    const base = `/c/echo/${t.tag}`
    await (await gw.fetch(`${base}?a=1&b=2&${cc('max-age=60')}`, { headers: t.headers() })).arrayBuffer()
    expect(cacheStatus(await gw.fetch(`${base}?${cc('max-age=60')}&b=2&a=1&utm_source=x`, { headers: t.headers() }))).toMatch(/hit/)
    expect(cacheStatus(await gw.fetch(`${base}?a=1&b=3&${cc('max-age=60')}`, { headers: t.headers() }))).toMatch(/miss/)
    expect(await t.count()).toBe(2)
  })

  it('query include list: only those parameters count', async () => {
    const gw = cachedGateway({ query: { include: ['page'] }, defaultTtl: 60 })
    const t = tagged()
    await (await gw.fetch(`/c/echo/${t.tag}?page=1&x=1`, { headers: t.headers() })).arrayBuffer()
    expect(cacheStatus(await gw.fetch(`/c/echo/${t.tag}?page=1&x=2`, { headers: t.headers() }))).toMatch(/hit/)
    expect(cacheStatus(await gw.fetch(`/c/echo/${t.tag}?page=2&x=1`, { headers: t.headers() }))).toMatch(/miss/)
  })

  it('configured request headers are part of the key', async () => {
    const gw = cachedGateway({ keyHeaders: ['X-Tenant'], defaultTtl: 60 })
    const t = tagged()
    const url = `/c/echo/${t.tag}`
    await (await gw.fetch(url, { headers: t.headers({ 'X-Tenant': 'a' }) })).arrayBuffer()
    expect(cacheStatus(await gw.fetch(url, { headers: t.headers({ 'X-Tenant': 'b' }) }))).toMatch(/miss/)
    expect(cacheStatus(await gw.fetch(url, { headers: t.headers({ 'X-Tenant': 'a' }) }))).toMatch(/hit/)
  })

  it('paths are keyed after normalisation: /c/echo/x/../T and /c/echo/T share an entry', async () => {
    const gw = cachedGateway({ defaultTtl: 60 })
    const t = tagged()
    await (await gw.fetch(`/c/echo/${t.tag}`, { headers: t.headers() })).arrayBuffer()
    expect(cacheStatus(await gw.fetch(`/c/echo/x/../${t.tag}`, { headers: t.headers() }))).toMatch(/hit/)
  })
})

describe('methods and sizes', () => {
  it("HEAD is answered from GET's entry without a body; a HEAD miss stores nothing", async () => {
    const gw = cachedGateway({ defaultTtl: 60 })
    const t = tagged()
    const url = `/c/echo/${t.tag}`
    const headMiss = await gw.fetch(url, { method: 'HEAD', headers: t.headers() })
    expect(cacheStatus(headMiss)).toBe('edgeway; fwd=uri-miss; detail=head')
    await (await gw.fetch(url, { headers: t.headers() })).arrayBuffer()
    expect(await t.count()).toBe(2)
    const head = await gw.fetch(url, { method: 'HEAD', headers: t.headers() })
    expect(cacheStatus(head)).toMatch(/hit/)
    expect(await head.text()).toBe('')
    expect(await t.count()).toBe(2)
  })

  it('POST passes through, marked fwd=method', async () => {
    const gw = cachedGateway({ defaultTtl: 60 })
    const t = tagged()
    const res = await gw.fetch(`/c/echo/${t.tag}`, { method: 'POST', body: 'x', headers: t.headers() })
    expect(cacheStatus(res)).toBe('edgeway; fwd=method; detail=method')
  })

  it('bodies over maxBodyBytes are not stored, with or without Content-Length; smaller ones are, whole', async () => {
    const gw = cachedGateway({ maxBodyBytes: 50_000 })
    const t = tagged()
    const big = `/c/bytes?size=60000&${cc('max-age=60')}&t=${t.tag}`
    const declared = await gw.fetch(big, { headers: t.headers() })
    expect(cacheStatus(declared)).toBe('edgeway; fwd=uri-miss; fwd-status=200; detail=too-large')
    expect((await declared.text()).length).toBe(60_000)
    const streamed = `${big}&chunked=1`
    const first = await gw.fetch(streamed, { headers: t.headers() })
    expect((await first.text()).length).toBe(60_000) // the client still gets all of it
    const again = await gw.fetch(streamed, { headers: t.headers() })
    expect(cacheStatus(again)).toMatch(/^edgeway; fwd=uri-miss/)
    expect((await again.text()).length).toBe(60_000)
    const small = `/c/bytes?size=40000&chunked=1&${cc('max-age=60')}&t=${t.tag}`
    await (await gw.fetch(small, { headers: t.headers() })).arrayBuffer()
    const hit = await gw.fetch(small, { headers: t.headers() })
    expect(cacheStatus(hit)).toMatch(/hit/)
    expect((await hit.text()).length).toBe(40_000)
  })

  it('a WebSocket upgrade through a cached route is left alone', async () => {
    const gw = testGateway(
      originConfig({ routes: [{ id: 'ws', match: { path: '/ws' }, policies: [{ type: 'cache', defaultTtl: 60 }], action: { type: 'proxy', upstream: 'origin', websocket: true } }] }),
    )
    const res = await gw.fetch('/ws', { headers: { Upgrade: 'websocket' } })
    expect(res.status).toBe(101)
    expect(res.webSocket).toBeTruthy()
    expect(cacheStatus(res)).toBeNull()
    res.webSocket!.accept()
    res.webSocket!.close()
  })

  it('a Range miss goes to the origin with its Range: a full 200 is stored, a 206 passed through; If-Range bypasses', async () => {
    const gw = cachedGateway({ defaultTtl: 60 })
    const t = tagged()
    const res = await gw.fetch(`/c/echo/${t.tag}`, { headers: t.headers({ Range: 'bytes=0-1' }) })
    expect(cacheStatus(res)).toBe('edgeway; fwd=uri-miss; fwd-status=200; stored')
    expect(((await res.json()) as { headers: Record<string, string> }).headers.range).toBe('bytes=0-1')
    const partial = await gw.fetch(`/c/status/206?t=${t.tag}&${cc('max-age=60')}`, { headers: t.headers({ Range: 'bytes=0-1' }) })
    expect(partial.status).toBe(206)
    expect(cacheStatus(partial)).toBe('edgeway; fwd=uri-miss; fwd-status=206; detail=status')
    const ifRange = await gw.fetch(`/c/echo/${t.tag}`, { headers: t.headers({ Range: 'bytes=0-1', 'If-Range': '"x"' }) })
    expect(cacheStatus(ifRange)).toBe('edgeway; fwd=bypass; detail=range')
  })
})
