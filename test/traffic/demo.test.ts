/** The traffic demo routes of the bundled test config, through the worker's own fetch handler. */
import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import type { Echo } from '../support/gateway'

const call = (path: string, init?: RequestInit) => exports.default.fetch(`http://gw.test${path}`, init)

describe('traffic demo routes', () => {
  it('/t/transform edits the request and the response', async () => {
    const res = await call('/t/transform/7?q=lamp', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
    expect(res.headers.get('x-transformed')).toBe('1')
    const { data } = (await res.json()) as { data: Omit<Echo, 'url'> & { upstreamUrl: string } }
    expect(data.upstreamUrl).toBe('/echo/transformed/7?search=lamp')
    expect(data.headers).toBeUndefined()
    expect(JSON.parse(data.body)).toEqual({ a: 1, meta: { requestId: res.headers.get('x-request-id') } })
  })

  it('/t/limits enforces method, required header and body size', async () => {
    expect((await call('/t/limits')).status).toBe(405)
    expect((await call('/t/limits', { method: 'POST', body: 'x' })).status).toBe(400)
    expect((await call('/t/limits', { method: 'POST', headers: { 'x-client': 'c' }, body: 'x'.repeat(1025) })).status).toBe(413)
    expect((await call('/t/limits', { method: 'POST', headers: { 'x-client': 'c' }, body: 'x'.repeat(1024) })).status).toBe(200)
  })

  it('/t/cors answers a credentialed preflight from a wildcard origin', async () => {
    const res = await call('/t/cors', { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'PUT' } })
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
    expect(res.headers.get('access-control-allow-credentials')).toBe('true')
  })

  it('/t/internal lets loopback and 10/8 in, not 10.6.6/24 or others', async () => {
    const from = (ip: string) => call('/t/internal', { headers: { 'cf-connecting-ip': ip } }).then((r) => r.status)
    expect(await from('127.0.0.1')).toBe(200)
    expect(await from('::1')).toBe(200)
    expect(await from('10.1.2.3')).toBe(200)
    expect(await from('10.6.6.6')).toBe(403)
    expect(await from('203.0.113.1')).toBe(403)
  })

  it('/t/internal says why it refused (the README demo lines)', async () => {
    const reason = async (ip: string) => {
      const res = await call('/t/internal', { headers: { 'cf-connecting-ip': ip } })
      expect(res.status).toBe(403)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
      return ((await res.json()) as { reason: string }).reason
    }
    expect(await reason('10.6.6.6')).toBe('ip-denied')
    expect(await reason('203.0.113.7')).toBe('ip-not-allowed')
  })
})
