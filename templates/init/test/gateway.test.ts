/**
 * The gateway's routes, tested inside workerd with Edgeway's test kit (`edgeway/testing`): a real
 * local origin of each test's own, this project's custom policy, and a built-in rate limit.
 */
import { exports } from 'cloudflare:workers'
import { testGateway, testOrigin, type Echo } from 'edgeway/testing'
import { describe, expect, it } from 'vitest'
import config from '../gateway.json'
import * as extensions from '../src/extensions'

/** gateway.json, its API origin a test origin of the test's own. */
function testedGateway() {
  const origin = testOrigin()
  return { origin, gateway: testGateway(config, { ...extensions, env: { API_ORIGIN: origin.url } }) }
}
/** Each test calls from an address of its own, so rate limits are its own. */
const from = (ip: string, headers: Record<string, string> = {}) => ({ headers: { 'cf-connecting-ip': ip, ...headers } })

describe('gateway.json', () => {
  it('the Worker itself answers /hello, and a problem+json 404 elsewhere', async () => {
    const hello = await exports.default.fetch('http://gateway.test/hello')
    expect(hello.status).toBe(200)
    expect(await hello.json()).toEqual({ hello: 'from {{name}}' })
    const missing = await exports.default.fetch('http://gateway.test/nope')
    expect(missing.status).toBe(404)
    expect(missing.headers.get('content-type')).toBe('application/problem+json')
  })

  it('custom:tenant-check lets the listed tenants through to the origin, and tells it which', async () => {
    const { origin, gateway } = testedGateway()
    const res = await gateway.fetch('/orders/7', from('192.0.2.1', { 'x-tenant': 'acme' }))
    expect(res.status).toBe(200)
    const echo = (await res.json()) as Echo
    expect(echo.path).toBe('/orders/7')
    expect(echo.headers['x-tenant-checked']).toBe('acme')
    expect(await origin.requests()).toHaveLength(1)
  })

  it('custom:tenant-check refuses another tenant (403) and a missing header (400) as problem+json, before the origin', async () => {
    const { origin, gateway } = testedGateway()
    const stranger = await gateway.fetch('/orders/7', from('192.0.2.2', { 'x-tenant': 'initech' }))
    expect(stranger.status).toBe(403)
    expect(stranger.headers.get('content-type')).toBe('application/problem+json')
    expect(((await stranger.json()) as { detail: string }).detail).toBe('Tenant "initech" may not call this route.')
    expect((await gateway.fetch('/orders/7', from('192.0.2.2'))).status).toBe(400)
    expect(await origin.requests()).toHaveLength(0)
  })

  it('rate-limit: the 61st request in a minute from one address is a 429 with Retry-After', async () => {
    const { origin, gateway } = testedGateway()
    for (let i = 0; i < 60; i++) expect((await gateway.fetch('/orders/1', from('192.0.2.3', { 'x-tenant': 'acme' }))).status).toBe(200)
    const limited = await gateway.fetch('/orders/1', from('192.0.2.3', { 'x-tenant': 'acme' }))
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/)
    expect(limited.headers.get('content-type')).toBe('application/problem+json')
    // Another address has its own budget.
    expect((await gateway.fetch('/orders/1', from('192.0.2.4', { 'x-tenant': 'acme' }))).status).toBe(200)
    expect(await origin.requests()).toHaveLength(61)
  })
})
