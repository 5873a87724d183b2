/**
 * The rate-limit policy end to end: requests through the gateway's fetch, real RateLimiter objects.
 */
import { describe, expect, it } from 'vitest'
import { freshIp, inspect, limitedGateway, setClock, used } from './helpers'
import { policyGateway } from '../support/gateway'
import { manualRuntime } from '../support/runtime'
import { parseList } from './sf'
import { configProblems } from '../support/config'

const from = (ip: string, headers: Record<string, string> = {}) => ({ headers: { 'cf-connecting-ip': ip, ...headers } })

type Problem = { type: string; status: number; code: string; detail: string; limit: string; limits: string[]; retryAfter: number }

describe('exactness', () => {
  it('1,000 concurrent requests against a limit of 100 admit exactly 100, and the 900 denied consume nothing', async () => {
    // Fail closed with a generous timeout: on a loaded machine a fail-open timeout would let requests through uncounted.
    const gw = limitedGateway({ limits: [{ name: 'hourly', limit: 100, window: 3600 }], onError: 'deny', timeout: 60_000 })
    const ip = freshIp()
    await setClock(`ip=${ip}`, Date.parse('2026-03-10T12:00:00Z'))
    const responses = await Promise.all(Array.from({ length: 1000 }, () => gw.fetch('/limited', from(ip))))
    const statuses = responses.map((r) => r.status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(100)
    expect(statuses.filter((s) => s === 429)).toHaveLength(900)
    await Promise.all(responses.map((r) => r.body?.cancel()))
    expect(await used(`ip=${ip}`, 'route:limited/hourly')).toBe(100)
  })

  it('two keys do not interfere', async () => {
    const gw = limitedGateway({ limits: [{ name: 'small', limit: 3, window: 3600 }] })
    const [a, b] = [freshIp(), freshIp()]
    const statusesA = []
    for (let i = 0; i < 5; i++) statusesA.push((await gw.fetch('/limited', from(a))).status)
    expect(statusesA).toEqual([200, 200, 200, 429, 429])
    const statusesB = await Promise.all(Array.from({ length: 3 }, async () => (await gw.fetch('/limited', from(b))).status))
    expect(statusesB).toEqual([200, 200, 200])
    expect(await used(`ip=${a}`, 'route:limited/small')).toBe(3)
    expect(await used(`ip=${b}`, 'route:limited/small')).toBe(3)
  })
})

// These move the object's clock alone, and read the object's counts as what was admitted: the
// exact path's guarantees (`mode: "exact"`). Leases (the default) are tested in leases.test.ts.
const EXACT = { mode: 'exact' } as const

describe('windows, with the clock injected into the object', () => {
  it('recovers one unit exactly `window` seconds after the request that used it', async () => {
    const gw = limitedGateway({ ...EXACT, limits: [{ name: 'burst', limit: 2, window: 10 }] })
    const ip = freshIp()
    const key = `ip=${ip}`
    const t0 = Date.parse('2026-03-10T12:00:00Z')
    await setClock(key, t0)
    expect((await gw.fetch('/limited', from(ip))).status).toBe(200)
    await setClock(key, t0 + 4000)
    expect((await gw.fetch('/limited', from(ip))).status).toBe(200)
    await setClock(key, t0 + 9000)
    const denied = await gw.fetch('/limited', from(ip))
    expect(denied.status).toBe(429)
    expect(denied.headers.get('retry-after')).toBe('1')
    expect(denied.headers.get('ratelimit')).toBe('"burst";r=0;t=1')
    await setClock(key, t0 + 10_000)
    const back = await gw.fetch('/limited', from(ip))
    expect(back.status).toBe(200)
    // Full again; the next unit is the one used at t0+4s: back at t0+14s.
    expect(back.headers.get('ratelimit')).toBe('"burst";r=0;t=4')
    await setClock(key, t0 + 13_999)
    expect((await gw.fetch('/limited', from(ip))).status).toBe(429)
    await setClock(key, t0 + 14_000)
    expect((await gw.fetch('/limited', from(ip))).status).toBe(200)
  })

  it('a multi-limit route denies on whichever limit is hit first and names it', async () => {
    const gw = limitedGateway({
      ...EXACT,
      limits: [
        { name: 'per-second', limit: 2, window: 1 },
        { name: 'per-minute', limit: 3, window: 60 },
      ],
    })
    const ip = freshIp()
    const key = `ip=${ip}`
    const t0 = Date.parse('2026-03-10T12:00:00Z')
    await setClock(key, t0)
    expect((await gw.fetch('/limited', from(ip))).status).toBe(200)
    expect((await gw.fetch('/limited', from(ip))).status).toBe(200)
    const perSecond = await gw.fetch('/limited', from(ip))
    expect(perSecond.status).toBe(429)
    const body1 = (await perSecond.json()) as Problem
    expect(body1).toMatchObject({ code: 'ERR_RATE_LIMITED', limit: 'per-second', limits: ['per-second'], retryAfter: 1 })
    expect(body1.detail).toBe('Rate limit "per-second" (2 per 1 s) exceeded; retry in 1 s.')
    expect(perSecond.headers.get('content-type')).toBe('application/problem+json')

    await setClock(key, t0 + 1000)
    expect((await gw.fetch('/limited', from(ip))).status).toBe(200)
    await setClock(key, t0 + 2000)
    const perMinute = await gw.fetch('/limited', from(ip))
    expect(perMinute.status).toBe(429)
    expect(await perMinute.json()).toMatchObject({ limit: 'per-minute', limits: ['per-minute'], retryAfter: 58 })
    expect(perMinute.headers.get('retry-after')).toBe('58')
    // The per-second unit used at t0+1s expired exactly now (t0+2s): that window is empty again.
    expect(perMinute.headers.get('ratelimit')).toBe('"per-second";r=2;t=0, "per-minute";r=0;t=58')
    // The denials were not charged: per-minute still holds the 3 admitted.
    expect(await used(key, 'route:limited/per-minute')).toBe(3)
  })
})

describe('limits in several objects', () => {
  it('reserve and refund under concurrency: no limit admits more than its count, denied requests are charged nowhere', async () => {
    // Each IP may make 40 requests; the tenant (a header key, another object) 60 in all.
    const gw = limitedGateway({
      ...EXACT,
      onError: 'deny',
      timeout: 60_000,
      limits: [
        { name: 'per-ip', limit: 40, window: 3600 },
        { name: 'per-tenant', limit: 60, window: 3600, by: [{ header: 'X-Tenant' }] },
      ],
    })
    const [a, b] = [freshIp(), freshIp()]
    const tenant = `t-${crypto.randomUUID()}`
    const send = (ip: string) => gw.fetch('/limited', from(ip, { 'x-tenant': tenant })).then((r) => ({ ip, status: r.status }))
    const results = await Promise.all([...Array.from({ length: 100 }, () => send(a)), ...Array.from({ length: 100 }, () => send(b))])
    const admitted = (ip: string) => results.filter((r) => r.ip === ip && r.status === 200).length
    const total = admitted(a) + admitted(b)
    expect(admitted(a)).toBeLessThanOrEqual(40)
    expect(admitted(b)).toBeLessThanOrEqual(40)
    expect(total).toBeLessThanOrEqual(60)
    expect(total).toBeGreaterThan(0)
    expect(results.every((r) => r.status === 200 || r.status === 429)).toBe(true)
    // Every counter holds exactly what was admitted: every reservation of a denied request was refunded.
    expect(await used(`ip=${a}`, 'route:limited/per-ip')).toBe(admitted(a))
    expect(await used(`ip=${b}`, 'route:limited/per-ip')).toBe(admitted(b))
    expect(await used(`h.x-tenant=${tenant}`, 'route:limited/per-tenant')).toBe(total)
  })

  it('when the key is missing, counts by the fallback key', async () => {
    const gw = limitedGateway({ by: [{ header: 'X-Tenant' }], fallback: ['ip'], limits: [{ name: 'tenant', limit: 5, window: 60 }] })
    const ip = freshIp()
    expect((await gw.fetch('/limited', from(ip))).status).toBe(200)
    expect((await gw.fetch('/limited', from(ip, { 'x-tenant': 'acme' }))).status).toBe(200)
    expect(await used(`ip=${ip}`, 'route:limited/tenant')).toBe(1)
    expect(await used('h.x-tenant=acme', 'route:limited/tenant')).toBe(1)
    expect(gw.logs[0]!.rateLimit).toMatchObject({ outcome: 'allowed', fallback: true, objects: 1 })
  })
})

describe('cost', () => {
  for (const mode of ['lease', 'exact'] as const) {
    it(`mode "${mode}": a request costing 5 takes 5 units of a window limit and a quota; one that no longer fits is denied`, async () => {
      const gw = limitedGateway({ mode, cost: 5, limits: [{ name: 'w', limit: 20, window: 60 }], quotas: [{ name: 'd', limit: 100, period: 'day' }] })
      const wOnly = limitedGateway({ mode, cost: 5, limits: [{ name: 'w', limit: 20, window: 60 }] })
      for (const [gateway, ids] of [[gw, ['route:limited/w', 'route:limited/d']], [wOnly, ['route:limited/w']]] as const) {
        const ip = freshIp()
        const statuses = []
        for (let i = 0; i < 5; i++) statuses.push((await gateway.fetch('/limited', from(ip))).status)
        expect(statuses).toEqual([200, 200, 200, 200, 429])
        for (const id of ids) expect(await used(`ip=${ip}`, id)).toBe(20)
      }
    })
  }

  /** A route whose answer says what it cost: `X-Usage-Tokens` echoes the request's `X-Tokens`. */
  const tokenGateway = (mode: 'lease' | 'exact') =>
    policyGateway(
      'rate-limit',
      { mode, costHeader: 'X-Usage-Tokens', limits: [{ name: 'tokens', limit: 100, window: 60 }] },
      { id: 'limited', match: { path: '/limited' }, action: { type: 'respond', headers: { 'x-usage-tokens': '{headers.x-tokens}' }, body: { ok: true } } },
      { runtime: manualRuntime() },
    )
  const spend = (gw: ReturnType<typeof tokenGateway>, ip: string, tokens: string) => gw.fetch('/limited', from(ip, { 'x-tokens': tokens }))

  it('a response reporting 40 tokens charges 40; one reporting more than is left puts the key in debt, delaying the next admission', async () => {
    const gw = tokenGateway('exact')
    const ip = freshIp()
    expect((await spend(gw, ip, '40')).status).toBe(200)
    expect(await used(`ip=${ip}`, 'route:limited/tokens')).toBe(40)
    // 1 unit is enough to be admitted; the answer then says 70: 110 of 100, in debt.
    expect((await spend(gw, ip, '70')).status).toBe(200)
    expect(await used(`ip=${ip}`, 'route:limited/tokens')).toBe(110)
    const next = await spend(gw, ip, '1')
    expect(next.status).toBe(429)
    // Not until 11 units are back: the 70 charged with the second request (a minute after it).
    expect(Number(next.headers.get('retry-after'))).toBeGreaterThan(55)
  })

  for (const mode of ['lease', 'exact'] as const) {
    it(`mode "${mode}": 40 tokens charge 40, a 0-token answer charges none, no header charges minCost`, async () => {
      const gw = tokenGateway(mode)
      const [a, b, c] = [freshIp(), freshIp(), freshIp()]
      expect((await spend(gw, a, '40')).status).toBe(200)
      expect(await used(`ip=${a}`, 'route:limited/tokens')).toBe(40)
      expect((await spend(gw, b, '0')).status).toBe(200)
      expect(await used(`ip=${b}`, 'route:limited/tokens')).toBe(0)
      expect((await spend(gw, c, 'many')).status).toBe(200)
      expect(await used(`ip=${c}`, 'route:limited/tokens')).toBe(1)
    })
  }

  for (const mode of ['lease', 'exact'] as const) {
    it(`mode "${mode}": a token-scale limit (5 million a minute) counts millions of units by weight`, async () => {
      const gw = policyGateway(
        'rate-limit',
        { mode, costHeader: 'X-Usage-Tokens', limits: [{ name: 'tokens', limit: 5_000_000, window: 60 }] },
        { id: 'limited', match: { path: '/limited' }, action: { type: 'respond', headers: { 'x-usage-tokens': '{headers.x-tokens}' }, body: { ok: true } } },
        { runtime: manualRuntime() },
      )
      const ip = freshIp()
      for (let i = 0; i < 3; i++) expect((await spend(gw, ip, '2000000')).status).toBe(200)
      // Charged in full (one call, one weighted row), not capped; under leases the count also holds
      // the few units this isolate has leased and not spent yet.
      const count = await used(`ip=${ip}`, 'route:limited/tokens')
      const leased = count - 6_000_000
      if (mode === 'exact') expect(leased).toBe(0)
      else expect(leased).toBeGreaterThanOrEqual(0), expect(leased).toBeLessThan(100)
      // In debt: denied, once this isolate's leased units (leased before the debt) are spent.
      const after: number[] = []
      for (let i = 0; i <= leased; i++) after.push((await spend(gw, ip, '1')).status)
      expect(after.filter((s) => s === 200).length).toBeLessThanOrEqual(leased)
      expect(after.at(-1)).toBe(429)
    })
  }

  it('refuses a cost no request could ever pay, naming the field', async () => {
    const problems = configProblems({ routes: [{ id: 'r', match: { path: '/' }, policies: [{ type: 'rate-limit', cost: 11, limits: [{ name: 'w', limit: 10, window: 1 }] }], action: { type: 'respond' } }] })
    expect(problems).toEqual(['routes[0].policies[0].cost: 11 is more than the smallest limit (10): no request could ever be admitted'])
    const both = configProblems({ routes: [{ id: 'r', match: { path: '/' }, policies: [{ type: 'rate-limit', cost: 2, costHeader: 'X-Usage-Tokens', limits: [{ name: 'w', limit: 10, window: 1 }] }], action: { type: 'respond' } }] })
    expect(both).toEqual(['routes[0].policies[0].cost: give either "cost" (a fixed cost) or "costHeader" (the cost read from the response, "minCost" taken at admission), not both'])
  })
})

describe('quotas through the gateway', () => {
  it('a monthly quota answers ERR_QUOTA_EXCEEDED with Retry-After until the month ends (UTC)', async () => {
    const gw = limitedGateway({ ...EXACT, quotas: [{ name: 'monthly', limit: 2, period: 'month' }] })
    const ip = freshIp()
    await setClock(`ip=${ip}`, '2026-04-30T23:00:00Z')
    const ok = await gw.fetch('/limited', from(ip))
    expect(ok.headers.get('ratelimit-policy')).toBe(`"monthly";q=2;w=${30 * 86400}`)
    expect(ok.headers.get('ratelimit')).toBe('"monthly";r=1;t=3600')
    await gw.fetch('/limited', from(ip))
    const denied = await gw.fetch('/limited', from(ip))
    expect(denied.status).toBe(429)
    expect(denied.headers.get('retry-after')).toBe('3600')
    expect(await denied.json()).toMatchObject({ code: 'ERR_QUOTA_EXCEEDED', type: 'urn:edgeway:problem:quota-exceeded', limit: 'monthly' })
    await setClock(`ip=${ip}`, '2026-05-01T00:00:00Z')
    expect((await gw.fetch('/limited', from(ip))).status).toBe(200)
  })
})

describe('RateLimit and RateLimit-Policy fields', () => {
  it('parse as RFC 9651 lists carrying the values the sliding window implies', async () => {
    const gw = limitedGateway({
      limits: [{ name: 'burst', limit: 10, window: 60 }],
      quotas: [{ name: 'daily', limit: 1000, period: 'day' }],
    })
    const ip = freshIp()
    const t0 = Date.parse('2026-03-10T18:00:00Z')
    await setClock(`ip=${ip}`, t0)
    await gw.fetch('/limited', from(ip))
    await setClock(`ip=${ip}`, t0 + 15_500)
    const res = await gw.fetch('/limited', from(ip))
    expect(res.status).toBe(200)
    expect(parseList(res.headers.get('ratelimit-policy')!)).toEqual([
      { value: 'burst', params: { q: 10, w: 60 } },
      { value: 'daily', params: { q: 1000, w: 86400 } },
    ])
    // burst: 2 used, the first frees at t0+60s (44.5 s from now, rounded up); daily: 6 h left in the UTC day.
    expect(parseList(res.headers.get('ratelimit')!)).toEqual([
      { value: 'burst', params: { r: 8, t: 45 } },
      { value: 'daily', params: { r: 998, t: 6 * 3600 - 15 } },
    ])
  })
})
