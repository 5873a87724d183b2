/**
 * Per-plan limits (the consumer comes from an auth policy; here a stand-in middleware publishes it,
 * as auth will), the admin API that reads and resets a key, and the demo route of the test config.
 */
import { env, exports } from 'cloudflare:workers'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { loadConfig } from '../../src/config/parse'
import { phaseOf } from '../../src/config/policies'
import type { AppEnv, Consumer } from '../../src/core/context'
import type { Env } from '../../src/core/env'
import { handleError } from '../../src/gateway/handle-error'
import { rateLimitPolicy } from '../../src/rate-limit/policy'
import { testGateway } from '../support/gateway'
import { freshIp, used } from './helpers'
import { parseList } from './sf'

/** The policy on its own, behind a middleware that publishes `c.var.consumer` from test headers. */
function appWith(input: GatewayConfigInput) {
  const config = loadConfig(input)
  const route = config.routes[0]!
  const limiter = rateLimitPolicy.create(route.policies[0] as never, { config, env: env as unknown as Env, route, at: 'routes[0].policies[0]', phaseOf })
  const app = new Hono<AppEnv>()
  app.onError(handleError)
  app.use(async (c, next) => {
    const id = c.req.header('x-consumer')
    const consumer: Consumer | undefined = id ? { id, plan: config.consumers[id]?.plan, via: 'test', key: id } : undefined
    c.set('consumer', consumer)
    c.set('requestId', crypto.randomUUID())
    c.set('log', { requestId: '', method: c.req.method, path: c.req.path })
    await next()
  })
  app.get('/r', limiter, (c) => c.json({ ok: true }))
  return (headers: Record<string, string>) => app.request('/r', { headers })
}

const plansConfig: GatewayConfigInput = {
  plans: {
    free: { quotas: [{ name: 'monthly', limit: 2, period: 'month' }] },
    gold: { limits: [{ name: 'gold-burst', limit: 3, window: 3600 }], quotas: [{ name: 'monthly', limit: 1000, period: 'month' }] },
  },
  consumers: { alice: { plan: 'gold' }, bob: { plan: 'free' }, carol: {} },
  routes: [
    {
      id: 'r',
      match: { path: '/r' },
      policies: [{ type: 'rate-limit', by: ['consumer'], fallback: ['ip'], limits: [{ name: 'everyone', limit: 100, window: 3600 }], plans: true }],
      action: { type: 'respond' },
    },
  ],
}

describe('per-plan limits', () => {
  it("apply the consumer's plan, counted per consumer, next to the route's own limits", async () => {
    const call = appWith(plansConfig)
    const ip = freshIp()
    const alice = { 'x-consumer': 'alice', 'cf-connecting-ip': ip }
    const first = await call(alice)
    expect(first.status).toBe(200)
    expect(parseList(first.headers.get('ratelimit-policy')!).map((i) => [i.value, i.params.q])).toEqual([
      ['everyone', 100],
      ['gold-burst', 3],
      ['monthly', 1000],
    ])
    await call(alice)
    await call(alice)
    const denied = await call(alice)
    expect(denied.status).toBe(429)
    expect(await denied.json()).toMatchObject({ code: 'ERR_RATE_LIMITED', limit: 'gold-burst' })
    expect(await used('consumer=alice', 'plan/gold-burst')).toBe(3)
    expect(await used('consumer=alice', 'route:r/everyone')).toBe(3)

    // bob (free) has only a monthly quota of 2; carol (no plan) only the route's limit.
    expect((await call({ 'x-consumer': 'bob' })).status).toBe(200)
    expect((await call({ 'x-consumer': 'bob' })).status).toBe(200)
    const bob = await call({ 'x-consumer': 'bob' })
    expect(bob.status).toBe(429)
    expect(await bob.json()).toMatchObject({ code: 'ERR_QUOTA_EXCEEDED', limit: 'monthly' })
    for (let i = 0; i < 4; i++) expect((await call({ 'x-consumer': 'carol' })).status).toBe(200)
    expect(parseList((await call({ 'x-consumer': 'carol' })).headers.get('ratelimit')!)).toEqual([{ value: 'everyone', params: { r: 95, t: 3600 } }])
  })

  it('without a consumer, the route limit falls back to the IP and no plan applies', async () => {
    const call = appWith(plansConfig)
    const ip = freshIp()
    const res = await call({ 'cf-connecting-ip': ip })
    expect(res.status).toBe(200)
    expect(parseList(res.headers.get('ratelimit-policy')!).map((i) => i.value)).toEqual(['everyone'])
    // The IP's object counts it (with leases, the default, also the units leased beside it).
    expect(await used(`ip=${ip}`, 'route:r/everyone')).toBeGreaterThanOrEqual(1)
  })
})

describe('admin API', () => {
  const config: GatewayConfigInput = {
    routes: [
      {
        id: 'limited',
        match: { path: '/limited' },
        // Exact: a reset seen at once, and counters that read as requests.
        policies: [{ type: 'rate-limit', mode: 'exact', limits: [{ name: 'small', limit: 2, window: 3600 }], quotas: [{ name: 'daily', limit: 10, period: 'day' }] }],
        action: { type: 'respond' },
      },
    ],
  }
  const admin = { authorization: `Bearer ${env.ADMIN_TOKEN}` }

  it('reads a key and resets it', async () => {
    const gw = testGateway(config)
    const ip = freshIp()
    const key = encodeURIComponent(`ip=${ip}`)
    for (let i = 0; i < 3; i++) await gw.fetch('/limited', { headers: { 'cf-connecting-ip': ip } })
    const read = await gw.fetch(`/_edgeway/rate-limits?key=${key}`, { headers: admin })
    expect(read.status).toBe(200)
    const body = (await read.json()) as { key: string; counters: { id: string; kind: string; count?: number; used?: number }[] }
    expect(body.key).toBe(`ip=${ip}`)
    expect(body.counters).toEqual([
      expect.objectContaining({ id: 'route:limited/small', kind: 'window', count: 2 }),
      expect.objectContaining({ id: 'route:limited/daily', kind: 'quota', used: 2 }),
    ])
    expect((await gw.fetch('/limited', { headers: { 'cf-connecting-ip': ip } })).status).toBe(429)

    const reset = await gw.fetch(`/_edgeway/rate-limits?key=${key}`, { method: 'DELETE', headers: admin })
    expect(await reset.json()).toEqual({
      key: `ip=${ip}`,
      reset: true,
      fullEffectWithinSeconds: 10,
      detail: 'Counters cleared. Gateways may spend units leased before the reset, or answer 429 themselves, for up to 10 s.',
    })
    expect((await gw.fetch('/limited', { headers: { 'cf-connecting-ip': ip } })).status).toBe(200)
    expect(await used(`ip=${ip}`, 'route:limited/small')).toBe(1)
  })

  it('needs the admin token, a key and a rate limiter binding', async () => {
    const gw = testGateway(config)
    const noToken = await gw.fetch('/_edgeway/rate-limits?key=ip%3D1.2.3.4')
    expect(noToken.status).toBe(401)
    const wrongToken = await gw.fetch('/_edgeway/rate-limits?key=ip%3D1.2.3.4', { method: 'DELETE', headers: { authorization: 'Bearer nope' } })
    expect(wrongToken.status).toBe(401)
    const noKey = await gw.fetch('/_edgeway/rate-limits', { headers: admin })
    expect(noKey.status).toBe(400)
    expect(await noKey.json()).toMatchObject({ code: 'ERR_BAD_REQUEST', detail: expect.stringContaining('Give the limit key as ?key=, e.g. ?key=ip%3D203.0.113.7') })
    const badBinding = await gw.fetch('/_edgeway/rate-limits?key=a&binding=ORIGIN_URL', { headers: admin })
    expect(badBinding.status).toBe(400)
    expect(await badBinding.json()).toMatchObject({ detail: '"ORIGIN_URL" is not a rate limiter binding of this config (known: RATE_LIMITER).' })
    // Another class's Durable Object binding is the caller's mistake (400), not an outage (was 503).
    const otherObject = await gw.fetch('/_edgeway/rate-limits?key=a&binding=METRICS_AGGREGATOR', { headers: admin })
    expect(otherObject.status).toBe(400)
    expect(await otherObject.json()).toMatchObject({ code: 'ERR_BAD_REQUEST', detail: '"METRICS_AGGREGATOR" is not a rate limiter binding of this config (known: RATE_LIMITER).' })
  })
})

describe('demo route (test/fixtures/gateway.json)', () => {
  it('admits 3 a minute per IP, then answers 429 with the headers', async () => {
    const ip = freshIp()
    const statuses: number[] = []
    let last: Response | undefined
    for (let i = 0; i < 4; i++) {
      last = await exports.default.fetch('http://gw.test/limited', { headers: { 'cf-connecting-ip': ip } })
      statuses.push(last.status)
      if (i < 3) await last.body?.cancel()
    }
    expect(statuses).toEqual([200, 200, 200, 429])
    expect(last!.headers.get('ratelimit-policy')).toBe('"demo";q=3;w=60')
    expect(last!.headers.get('ratelimit')).toMatch(/^"demo";r=0;t=(59|60)$/)
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(59)
    expect(await last!.json()).toMatchObject({ code: 'ERR_RATE_LIMITED', limit: 'demo' })
  })
})
