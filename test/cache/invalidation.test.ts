/**
 * Invalidation (RFC 9111 section 4.4): a non-error answer to an unsafe method drops the stored
 * responses of its target URI and of the same-origin URIs it names, here at once and elsewhere
 * through the path's purge generation.
 */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { pathKey } from '../support/generations'
import { cachedGateway, cacheStatus, cc, h, storedEntry, tagged } from './helpers'

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
})
