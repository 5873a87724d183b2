/**
 * Stale on a broken origin (RFC 9111 section 4.2.4): when the origin can't be reached, a stale
 * entry whose directives allow it is served, saying why; must-revalidate and its kin forbid it.
 */
import { describe, expect, it } from 'vitest'
import { advance, cacheStatus, cc, seq, storedEntry } from './helpers'

describe('stale on a broken origin', () => {
  it('a dropped connection gets the stale entry, with Cache-Status saying so', async () => {
    const { t, send } = await storedEntry((tag) => `/c/echo/${tag}?${cc('max-age=10')}`)
    advance(20)
    await t.override('mode=reset')
    const res = await send()
    expect(res.status).toBe(200)
    expect(seq(res)).toBe(1)
    expect(cacheStatus(res)).toMatch(/^edgeway; fwd=stale; fwd-status=502; ttl=-1\d; detail=origin-unreachable$/)
  })

  for (const directive of ['must-revalidate', 'proxy-revalidate', 's-maxage=10']) {
    it(`${directive} forbids it: the client gets the 502 problem`, async () => {
      const { t, send } = await storedEntry((tag) => `/c/echo/${tag}?${cc(`max-age=10, ${directive}`)}`)
      advance(20)
      await t.override('mode=reset')
      const res = await send()
      expect(res.status).toBe(502)
      expect(await res.json()).toMatchObject({ code: 'ERR_UPSTREAM_UNREACHABLE' })
    })
  }

  it("an origin's own 503 is its answer, not a broken origin (stale-if-error decides that)", async () => {
    const { t, send } = await storedEntry((tag) => `/c/echo/${tag}?${cc('max-age=10')}`)
    advance(20)
    await t.override('status=503')
    expect((await send()).status).toBe(503)
  })
})
