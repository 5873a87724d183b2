/**
 * The test kit as a project uses it: only its public entry point (`edgeway/testing`, here
 * src/testing/workerd.ts), with the servers its global setup starts. The first test is the one
 * docs/extending.md shows.
 */
import { expect, it } from 'vitest'
import { stoppedClock, testGateway, testIssuer, testOrigin, type Echo } from '../../src/testing/workerd'

it('GET /orders needs a token with orders:read, and is cached for 60 s', async () => {
  const [issuer, origin, clock] = [await testIssuer(), testOrigin(), stoppedClock()]
  const jwt = { type: 'jwt', issuers: [issuer.config], scopes: ['orders:read'] }
  const route = { id: 'orders', match: { path: '/orders' }, policies: [jwt, { type: 'cache', scope: 'consumer', defaultTtl: 60 }], action: { type: 'proxy', upstream: 'orders' } }
  const gateway = testGateway({ upstreams: { orders: { url: origin.url } }, routes: [route] }, { runtime: clock })
  expect((await gateway.fetch('/orders')).status).toBe(401)
  expect((await gateway.fetch('/orders', await issuer.bearer({ scope: 'orders:write' }))).status).toBe(403)
  const reader = await issuer.bearer({ scope: 'orders:read' })
  await gateway.fetch('/orders', reader)
  await clock.advance(59_000)
  expect((await gateway.fetch('/orders', reader)).headers.get('age')).toBe('59')
  await clock.advance(2_000)
  expect((await gateway.fetch('/orders', reader)).headers.get('age')).toBe(null)
  expect(await origin.requests()).toHaveLength(2)
})

it('scripts what the origin answers, then echoes again', async () => {
  const origin = testOrigin()
  const gateway = testGateway({ upstreams: { api: { url: origin.url } }, routes: [{ id: 'api', match: { path: '/api/*' }, action: { type: 'proxy', upstream: 'api' } }] })
  await origin.answer({ status: 503, body: { down: true } }, { headers: { 'x-version': '2' }, body: 'back' })
  const down = await gateway.fetch('/api/a')
  expect([down.status, await down.json()]).toEqual([503, { down: true }])
  for (const path of ['/api/b', '/api/c']) {
    const res = await gateway.fetch(path)
    expect([res.status, res.headers.get('x-version'), await res.text()]).toEqual([200, '2', 'back'])
  }
  await origin.answer()
  const echo = (await (await gateway.fetch('/api/d?x=1', { method: 'POST', body: 'hi' })).json()) as Echo
  expect(echo).toMatchObject({ method: 'POST', path: '/api/d', query: { x: '1' }, body: 'hi' })
  expect((await origin.requests()).map((r) => r.method)).toEqual(['GET', 'GET', 'GET', 'POST'])
})

it('makes tokens at the time of the clock it is given', async () => {
  const clock = stoppedClock(Date.parse('2030-01-01T00:00:00Z'))
  const issuer = await testIssuer({ clock })
  const gateway = testGateway({ routes: [{ id: 'me', match: { path: '/me' }, policies: [{ type: 'jwt', issuers: [issuer.config] }], action: { type: 'respond', body: { sub: '{claims.sub}' } } }] }, { runtime: clock })
  const auth = await issuer.bearer({ sub: 'ada' })
  expect(await (await gateway.fetch('/me', auth)).json()).toEqual({ sub: 'ada' })
  // 5 minutes of life and the jwt policy's default 30 s of clock tolerance later.
  await clock.advance(331_000)
  expect((await gateway.fetch('/me', auth)).status).toBe(401)
})
