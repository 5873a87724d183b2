/**
 * The gateway's own sticky-session cookie (upstream `sticky`) and the cache: it neither stops a
 * response from being stored nor makes a request credentialed; it never enters an entry, and a hit
 * pins a client that isn't pinned yet to the target that produced the entry, as the proxy would.
 */
import { describe, expect, it } from 'vitest'
import { ORIGIN, testGateway } from '../support/gateway'
import { cacheStatus, seq, tagged } from './helpers'

const COOKIE = /^lb=(alpha|beta); Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Lax$/

function stickyGateway() {
  return testGateway({
    upstreams: { pool: { sticky: { cookie: 'lb', duration: 600 }, targets: [{ url: ORIGIN, id: 'alpha' }, { url: ORIGIN, id: 'beta' }] } },
    routes: [{ id: 'cached', match: { path: '/c/*' }, policies: [{ type: 'cache' }], action: { type: 'proxy', upstream: 'pool', stripPrefix: '/c' } }],
  })
}

const cookies = (res: Response): string[] => (res.headers as Headers & { getSetCookie(): string[] }).getSetCookie()

describe('sticky sessions and the cache', () => {
  it('a response from a sticky pool is stored; a hit pins a new client to the target that produced it', async () => {
    const gw = stickyGateway()
    const t = tagged()
    const url = `/c/echo/${t.tag}?cc=${encodeURIComponent('public, max-age=60')}`
    const first = await gw.fetch(url, { headers: t.headers() })
    expect(cacheStatus(first)).toBe('edgeway; fwd=uri-miss; fwd-status=200; stored')
    expect(cookies(first)).toHaveLength(1)
    expect(cookies(first)[0]).toMatch(COOKIE)
    const pin = cookies(first)[0]!.split(';')[0]!
    await first.arrayBuffer()

    const stranger = await gw.fetch(url, { headers: t.headers() })
    expect(cacheStatus(stranger)).toMatch(/^edgeway; hit/)
    expect(seq(stranger)).toBe(1)
    expect(cookies(stranger)).toEqual([cookies(first)[0]])

    // A pinned client is no credentialed client: a hit, and no new cookie (already pinned).
    for (const cookie of [pin, pin === 'lb=alpha' ? 'lb=beta' : 'lb=alpha']) {
      const pinned = await gw.fetch(url, { headers: t.headers({ cookie }) })
      expect(cacheStatus(pinned)).toMatch(/^edgeway; hit/)
      expect(cookies(pinned)).toEqual([])
    }
    // A cookie naming no target of the pool is re-pinned, as the proxy does.
    expect(cookies(await gw.fetch(url, { headers: t.headers({ cookie: 'lb=gamma' }) }))).toEqual([cookies(first)[0]])
    expect(await t.count()).toBe(1)
  })

  it("any other cookie is still a credential, and the origin's own Set-Cookie still keeps a response out", async () => {
    const gw = stickyGateway()
    const t = tagged()
    const url = `/c/echo/${t.tag}?cc=${encodeURIComponent('public, max-age=60')}`
    await (await gw.fetch(url, { headers: t.headers() })).arrayBuffer()
    const session = await gw.fetch(url, { headers: t.headers({ cookie: 'lb=alpha; session=s1' }) })
    expect(cacheStatus(session)).toBe('edgeway; fwd=bypass; detail=credentials')

    const setsCookie = `${url}&h=${encodeURIComponent('Set-Cookie:sid=1; Path=/')}`
    const res = await gw.fetch(setsCookie, { headers: t.headers() })
    expect(cacheStatus(res)).toBe('edgeway; fwd=uri-miss; fwd-status=200; detail=set-cookie')
    // Both reach the client: the origin's, and the gateway's pin.
    expect(cookies(res).map((c) => c.split('=')[0])).toEqual(['sid', 'lb'])
  })
})
