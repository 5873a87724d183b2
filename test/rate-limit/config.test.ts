/**
 * Config for rate limits: exact validation messages naming the config path, the subrequest budget,
 * and limit keys (consumer, plan, api key, header, combination, fallback) derived as documented.
 */
import * as v from 'valibot'
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { parseConfig } from '../../src/config/parse'
import { rateLimitPolicy } from '../../src/rate-limit/policy'
import { compileKey, type KeyInput } from '../../src/rate-limit/keys'
import { configProblems } from '../support/config'

function problemsOf(policy: Record<string, unknown>, extra: Partial<GatewayConfigInput> = {}): string[] {
  return configProblems({
    routes: [{ id: 'r', match: { path: '/r' }, policies: [{ type: 'rate-limit', ...policy }], action: { type: 'respond' } }],
    ...extra,
  })
}

describe('validation', () => {
  it('refuses two rate-limit policies of one scope with a same-named limit (they would share one counter)', () => {
    const limit = (name: string) => ({ type: 'rate-limit', by: ['ip'], limits: [{ name, limit: 5, window: 60 }] })
    expect(configProblems({ routes: [{ id: 'r', match: { path: '/r' }, policies: [limit('burst'), { ...limit('other'), quotas: [{ name: 'burst', limit: 9, period: 'day' }] }], action: { type: 'respond' } }] })).toEqual([
      'routes[0].policies[1].quotas[0].name: "burst" is also a limit of routes[0].policies[0]; in one scope (global, or one route) they would share one counter',
    ])
    const global = parseConfig({ policies: [limit('burst'), { ...limit('burst'), beforeAuth: true }], routes: [{ id: 'r', match: { path: '/r' }, action: { type: 'respond' } }] })
    expect(global.ok ? [] : global.problems).toEqual([
      'policies[1].limits[0].name: "burst" is also a limit of policies[0]; in one scope (global, or one route) they would share one counter',
    ])
    // Different scopes have different counters: a global and a route limit may share a name.
    expect(parseConfig({ policies: [limit('burst')], routes: [{ id: 'r', match: { path: '/r' }, policies: [limit('burst')], action: { type: 'respond' } }] }).ok).toBe(true)
  })

  it('names the path and the reason', () => {
    expect(problemsOf({})).toEqual(['routes[0].policies[0]: needs at least one of "limits", "quotas" or "plans": true'])
    expect(problemsOf({ limits: [{ name: 'a', limit: 1, window: 1 }], quotas: [{ name: 'a', limit: 1, period: 'day' }] })).toEqual([
      'routes[0].policies[0].quotas[0].name: "a" is already the name of limits[0]',
    ])
    expect(problemsOf({ limits: [{ name: 'a', limit: 100_001, window: 61 }] })).toEqual([
      'routes[0].policies[0].limits[0].limit: must be at most 100000 for a window over 60 seconds (use a quota for larger counts)',
    ])
    expect(problemsOf({ limits: [{ name: 'a', limit: 1_000_000_001, window: 60 }] })).toEqual([
      'routes[0].policies[0].limits[0].limit: must be at most 1000000000 (use a quota for larger counts)',
    ])
    expect(problemsOf({ limits: [{ name: 'a', limit: 5_000_000, window: 60 }] })).toEqual([])
    expect(problemsOf({ limits: [{ name: 'a', limit: 1.5, window: 1 }] })).toEqual(['routes[0].policies[0].limits[0].limit: must be a whole number'])
    expect(problemsOf({ limits: [{ name: 'a', limit: 1, window: 3_000_000 }] })).toEqual([
      'routes[0].policies[0].limits[0].window: must be at most 31 days (2678400 seconds)',
    ])
    expect(problemsOf({ quotas: [{ name: 'a', limit: 1, period: 'year' }] })[0]).toMatch(/^routes\[0\]\.policies\[0\]\.quotas\[0\]\.period: /)
    expect(problemsOf({ by: ['cookie'], limits: [{ name: 'a', limit: 1, window: 1 }] })).toEqual([
      'routes[0].policies[0].by[0]: must be "consumer", "ip", "route", "apiKey" or { "header": name }',
    ])
    expect(problemsOf({ by: [{ header: 'bad header' }], limits: [{ name: 'a', limit: 1, window: 1 }] })).toEqual([
      'routes[0].policies[0].by[0].header: must be a valid header name',
    ])
    expect(problemsOf({ by: [], limits: [{ name: 'a', limit: 1, window: 1 }] })).toEqual(['routes[0].policies[0].by: needs at least one part'])
    expect(problemsOf({ onError: 'maybe', limits: [{ name: 'a', limit: 1, window: 1 }] })[0]).toMatch(/^routes\[0\]\.policies\[0\]\.onError: /)
    expect(problemsOf({ limits: [{ name: 'a', limit: 1, window: 1, per: 'ip' }] })).toEqual([
      'routes[0].policies[0].limits[0].per: unknown key (allowed: name, limit, window, by, fallback)',
    ])
  })

  it('refuses limits the object would always reject: a counter id over 256 characters, over 32 checks a request', () => {
    const long = (routeId: string, name: string) =>
      parseConfig({
        routes: [{ id: routeId, match: { path: '/r' }, policies: [{ type: 'rate-limit', limits: [{ name, limit: 1, window: 1 }] }], action: { type: 'respond' } }],
      })
    // route: + 128 + / + 122 = 257
    expect(long('r'.repeat(128), 'n'.repeat(122))).toMatchObject({
      ok: false,
      problems: [`routes[0].policies[0].limits[0].name: the counter id "route:${'r'.repeat(128)}/<name>" would be 257 characters (at most 256): shorten the route id or the name`],
    })
    expect(long('r'.repeat(128), 'n'.repeat(121)).ok).toBe(true)

    const limits = (n: number, prefix = 'l') => Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i}`, limit: 1, window: 60 }))
    expect(problemsOf({ limits: limits(32) })).toEqual([])
    expect(problemsOf({ limits: limits(30), quotas: [{ name: 'q1', limit: 1, period: 'day' }, { name: 'q2', limit: 1, period: 'day' }, { name: 'q3', limit: 1, period: 'day' }] })).toEqual([
      'routes[0].policies[0]: at most 32 limits and quotas can apply to one request (found 33: 33 here)',
    ])
    const plans = { small: { limits: limits(2, 'p') }, big: { limits: limits(10, 'p') } }
    expect(problemsOf({ plans: true, limits: limits(22) }, { plans })).toEqual([])
    expect(problemsOf({ plans: true, limits: limits(23) }, { plans })).toEqual([
      'routes[0].policies[0]: at most 32 limits and quotas can apply to one request (found 33: 23 here + 10 in plan "big")',
    ])
  })

  it('checks plans: unique names, and no clash with a policy that applies them', () => {
    const plans = { gold: { limits: [{ name: 'x', limit: 5, window: 60 }], quotas: [{ name: 'x', limit: 5, period: 'day' as const }] } }
    expect(problemsOf({ plans: true }, { plans })).toEqual(['plans.gold: limit and quota names must be unique ("x" is used twice)'])
    const gold = { gold: { limits: [{ name: 'burst', limit: 5, window: 60 }] } }
    expect(problemsOf({ plans: true, limits: [{ name: 'burst', limit: 1, window: 1 }] }, { plans: gold })).toEqual([
      'routes[0].policies[0].plans: plan "gold" also has a limit named "burst"; names must differ',
    ])
    expect(problemsOf({ plans: true }, { plans: gold })).toEqual([])
  })

  it('counts one RPC per distinct key (plus refunds) against the subrequest budget', () => {
    const options = {
      limits: [
        { name: 'a', limit: 1, window: 1 },
        { name: 'b', limit: 1, window: 60 },
        { name: 'c', limit: 1, window: 1, by: ['consumer'] },
        { name: 'd', limit: 1, window: 1, by: [{ header: 'X-Tenant' }] },
      ],
    }
    expect(rateLimitPolicy.subrequests!(v.parse(rateLimitPolicy.schema, { type: 'rate-limit', ...options }))).toBe(5)
    expect(problemsOf(options, { gateway: { maxSubrequests: 4 } })).toEqual([
      'routes[0]: needs up to 5 subrequests per request (action 0, policies 5), over the limit of 4 (gateway.plan "free")',
    ])
  })
})

const input = (over: Partial<KeyInput> = {}): KeyInput => ({ consumer: undefined, ip: '203.0.113.7', route: 'orders', headers: new Headers(), ...over })

describe('limit keys', () => {
  it('render each part as name=value, joined by &', async () => {
    expect((await compileKey(['ip']).derive(input())).key).toBe('ip=203.0.113.7')
    expect((await compileKey(['ip']).derive(input({ ip: '2001:db8::7' }))).key).toBe('ip=2001:db8::7')
    expect((await compileKey(['consumer', 'route']).derive(input({ consumer: 'alice' }))).key).toBe('consumer=alice&route=orders')
    const headers = new Headers({ 'X-Tenant': 'a&b=c' })
    expect((await compileKey([{ header: 'X-Tenant', hash: false }, 'ip']).derive(input({ headers }))).key).toBe('h.x-tenant=a%26b%3Dc&ip=203.0.113.7')
  })

  it('fall back when a part is missing, and share one "~" counter when the fallback is missing too', async () => {
    const byConsumer = compileKey(['consumer'], ['ip'])
    expect(await byConsumer.derive(input({ consumer: 'alice' }))).toEqual({ key: 'consumer=alice', fallback: false })
    expect(await byConsumer.derive(input())).toEqual({ key: 'ip=203.0.113.7', fallback: true })
    expect(await byConsumer.derive(input({ ip: undefined }))).toEqual({ key: 'ip=~', fallback: true })
    expect((await compileKey(['consumer']).derive(input())).key).toBe('consumer=~')
    expect((await compileKey([{ header: 'X-Tenant', hash: false }], ['ip']).derive(input({ headers: new Headers({ 'x-tenant': '  ' }) }))).key).toBe(
      'ip=203.0.113.7',
    )
  })

  it('give the same key without a promise when no part is hashed, and none when one is (the lease path then waits)', async () => {
    const cases: [ReturnType<typeof compileKey>, KeyInput][] = [
      [compileKey(['ip']), input({ ip: '2001:db8::7' })],
      [compileKey(['consumer', 'route']), input({ consumer: 'a&b' })],
      [compileKey(['consumer'], ['ip']), input()],
      [compileKey([{ header: 'X-Tenant', hash: false }, 'ip']), input({ headers: new Headers({ 'X-Tenant': 'a&b=c' }) })],
    ]
    for (const [key, given] of cases) expect(key.deriveNow(given)).toEqual(await key.derive(given))
    expect(compileKey(['apiKey']).deriveNow(input({ apiKey: 'sk_live_0123456789' }))).toBeUndefined()
    expect(compileKey([{ header: 'X-Tenant', hash: true }]).deriveNow(input({ headers: new Headers({ 'X-Tenant': 't' }) }))).toBeUndefined()
    expect(compileKey([{ header: 'X-Tenant', hash: false }]).deriveNow(input({ headers: new Headers({ 'X-Tenant': 'x'.repeat(200) }) }))).toBeUndefined()
  })

  it('never put a secret or a huge value into an object name', async () => {
    const secret = 'sk_live_0123456789'
    const apiKey = (await compileKey(['apiKey']).derive(input({ apiKey: secret }))).key
    expect(apiKey).toMatch(/^apikey#=[0-9a-f]{32}$/)
    expect(apiKey).not.toContain(secret)
    const hashed = (await compileKey([{ header: 'Authorization', hash: true }]).derive(input({ headers: new Headers({ authorization: `Bearer ${secret}` }) }))).key
    expect(hashed).toMatch(/^h\.authorization#=[0-9a-f]{32}$/)
    const huge = (await compileKey([{ header: 'X-Tenant', hash: false }]).derive(input({ headers: new Headers({ 'x-tenant': 'x'.repeat(8000) }) }))).key
    expect(huge).toMatch(/^h\.x-tenant=[0-9a-f]{32}$/)
  })
})
