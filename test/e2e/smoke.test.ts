import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'

describe('smoke', () => {
  it('proxies to the origin', async () => {
    const res = await exports.default.fetch('http://gw.test/echo/hello?x=1', { headers: { 'x-test-tag': 'smoke' } })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { url: string; headers: Record<string, string> }
    expect(body.url).toBe('/echo/hello?x=1')
    expect(res.headers.get('x-request-id')).toBeTruthy()
  })
  it('404 problem', async () => {
    const res = await exports.default.fetch('http://gw.test/nope')
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    console.log(await res.text())
  })
})
