/**
 * An origin that answers with a status no HTTP response may have (outside 200-599 as a final
 * status, or an interim 1xx the runtime hands over as final) gets the client a 502 problem, on
 * every route, cached or not: never a 500 of the gateway's making.
 */
import { describe, expect, it } from 'vitest'
import { newTag, originConfig, testGateway } from '../support/gateway'

const gateway = () =>
  testGateway(
    originConfig({
      routes: [
        { id: 'cached', match: { path: '/c/*' }, policies: [{ type: 'cache', scope: 'public' }], action: { type: 'proxy', upstream: 'origin', stripPrefix: '/c' } },
        { id: 'all', match: { path: '/*' }, action: { type: 'proxy', upstream: 'origin' } },
      ],
    }),
  )

describe('an origin status outside what HTTP allows', () => {
  for (const [route, prefix] of [['uncached', ''], ['cached', '/c']] as const) {
    for (const status of [999, 600, 103]) {
      it(`${status} on a ${route} route: 502 problem+json ERR_UPSTREAM_INVALID_RESPONSE`, async () => {
        const res = await gateway().fetch(`${prefix}/echo/${newTag()}?status=${status}&body=never-read`)
        expect(res.status).toBe(502)
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
        expect(await res.json()).toMatchObject({ code: 'ERR_UPSTREAM_INVALID_RESPONSE', status: 502 })
      })
    }
  }
})

describe('an interim 1xx before the real answer (workerd hands it over as final)', () => {
  for (const [route, prefix] of [['uncached', ''], ['cached', '/c']] as const) {
    it(`103 Early Hints then a 200 on a ${route} route: the client gets the 200, body whole`, async () => {
      const res = await gateway().fetch(`${prefix}/bytes?size=300&early-hints=1&cc=${encodeURIComponent('max-age=60')}`, { headers: { 'x-test-tag': newTag() } })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-length')).toBe('300')
      expect(res.headers.get('link')).toBeNull()
      expect(await res.text()).toBe('x'.repeat(300))
    })
  }

  it('the final answer is cached as any other: the next request is a hit', async () => {
    const gw = gateway()
    const tag = newTag()
    const url = `/c/bytes?size=20&early-hints=1&cc=${encodeURIComponent('max-age=60')}&t=${tag}`
    const first = await gw.fetch(url, { headers: { 'x-test-tag': tag } })
    expect(first.headers.get('cache-status')).toBe('edgeway; fwd=uri-miss; fwd-status=200; stored')
    await first.arrayBuffer()
    const second = await gw.fetch(url, { headers: { 'x-test-tag': tag } })
    expect(second.headers.get('cache-status')).toMatch(/^edgeway; hit/)
    expect(await second.text()).toBe('x'.repeat(20))
  })

  it('a chunked real answer is decoded: the client gets the whole body', async () => {
    const res = await gateway().fetch(`/bytes?size=40000&chunked=1&early-hints=1`, { headers: { 'x-test-tag': newTag() } })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('x'.repeat(40_000))
  })

  it("a content-encoded real answer can't be read with certainty (its bytes are raw): 502, at once", async () => {
    const res = await gateway().fetch(`/echo/${newTag()}?gzip=1&early-hints=1`)
    expect(res.status).toBe(502)
    expect(await res.json()).toMatchObject({ code: 'ERR_UPSTREAM_INVALID_RESPONSE' })
  })
})
