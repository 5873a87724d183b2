/**
 * `beforeAuth`: a rate-limit policy that runs in the request phase, so requests with a bad API key
 * or token are counted (and stopped with 429) before authentication rejects them. Real API keys
 * (hashes in secrets), real RateLimiter objects; invalid combinations fail with exact messages.
 */
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { testGateway } from '../support/gateway'
import { configKeys, consumerId } from '../integration/identity'
import { freshIp, used } from './helpers'
import { configProblems } from '../support/config'

type PolicyInput = NonNullable<GatewayConfigInput['policies']>[number]

const guard = (over: Record<string, unknown> = {}) =>
  ({ type: 'rate-limit', beforeAuth: true, by: ['ip'], limits: [{ name: 'guard', limit: 3, window: 3600 }], ...over }) as PolicyInput

/** `/k` needs an API key; its route policies are `[api-key, ...limit]` (the limit listed after auth on purpose). */
async function keyedGateway(limit: PolicyInput[], global: PolicyInput[] = []) {
  const acme = consumerId('acme')
  const keyed = await configKeys({ [acme]: {} })
  const gw = testGateway(
    {
      consumers: keyed.consumers,
      policies: global,
      routes: [{ id: 'k', match: { path: '/k' }, policies: [{ type: 'api-key' }, ...limit], action: { type: 'respond', body: { consumer: '{consumer.id}' } } }],
    },
    keyed.env,
  )
  return { gw, key: keyed.keys[acme]!, consumer: acme }
}

const call = async (gw: ReturnType<typeof testGateway>, ip: string, apiKey: string) => {
  const res = await gw.fetch('/k', { headers: { 'cf-connecting-ip': ip, 'x-api-key': apiKey } })
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> }
}

describe('beforeAuth rate limits count requests with bad credentials', () => {
  it('per IP: three bad keys get 401, the fourth 429 (not 401), then even the right key waits; another IP is unaffected', async () => {
    const { gw, key, consumer } = await keyedGateway([guard()])
    const ip = freshIp()
    for (let i = 0; i < 3; i++) {
      const bad = await call(gw, ip, `sk_guess_${i}`)
      expect(bad.status).toBe(401)
      expect(bad.body.code).toBe('ERR_UNAUTHORIZED')
      // The limit ran first, so its fields are on the 401 too.
      expect(bad.headers.get('ratelimit')).toBe(`"guard";r=${2 - i};t=3600`)
    }
    const blocked = await call(gw, ip, 'sk_guess_3')
    expect(blocked.status).toBe(429)
    expect(blocked.headers.get('content-type')).toBe('application/problem+json')
    expect(blocked.headers.get('retry-after')).toBe('3600')
    expect(blocked.headers.get('ratelimit-policy')).toBe('"guard";q=3;w=3600')
    expect(blocked.body).toMatchObject({ code: 'ERR_RATE_LIMITED', status: 429, limit: 'guard', retryAfter: 3600 })
    expect((await call(gw, ip, key)).status).toBe(429)
    expect(await used(`ip=${ip}`, 'route:k/guard')).toBe(3)

    const other = await call(gw, freshIp(), key)
    expect(other.status).toBe(200)
    expect(other.body).toEqual({ consumer })
    expect(other.headers.get('ratelimit')).toBe('"guard";r=2;t=3600')
  })

  it('without beforeAuth the same limit never sees rejected keys: every guess is a 401', async () => {
    const { gw } = await keyedGateway([guard({ beforeAuth: false })])
    const ip = freshIp()
    const statuses = []
    for (let i = 0; i < 5; i++) statuses.push((await call(gw, ip, `sk_guess_${i}`)).status)
    expect(statuses).toEqual([401, 401, 401, 401, 401])
    expect(await used(`ip=${ip}`, 'route:k/guard')).toBe(0)
  })

  it('a global beforeAuth limit runs before routing: bad keys and 404s share the IP counter', async () => {
    const { gw, key } = await keyedGateway([], [guard({ limits: [{ name: 'edge', limit: 3, window: 60 }] })])
    const ip = freshIp()
    expect((await call(gw, ip, 'sk_wrong')).status).toBe(401)
    const missing = await gw.fetch('/no-such-route', { headers: { 'cf-connecting-ip': ip } })
    expect(missing.status).toBe(404)
    expect(missing.headers.get('ratelimit')).toBe('"edge";r=1;t=60')
    expect((await call(gw, ip, key)).status).toBe(200)
    const blocked = await call(gw, ip, key)
    expect(blocked.status).toBe(429)
    expect(blocked.headers.get('retry-after')).toBe('60')
    expect(await used(`ip=${ip}`, 'global/edge')).toBe(3)
  })

  it('a route-level beforeAuth limit may key by route', async () => {
    const { gw } = await keyedGateway([guard({ by: ['ip', 'route'], limits: [{ name: 'guard', limit: 1, window: 60 }] })])
    const ip = freshIp()
    expect((await call(gw, ip, 'sk_wrong')).status).toBe(401)
    expect((await call(gw, ip, 'sk_wrong')).status).toBe(429)
    expect(await used(`ip=${ip}&route=k`, 'route:k/guard')).toBe(1)
  })
})

function problemsOf(policy: Record<string, unknown>, where: 'route' | 'global' = 'route', extra: Partial<GatewayConfigInput> = {}): string[] {
  const limit = { type: 'rate-limit', beforeAuth: true, limits: [{ name: 'a', limit: 1, window: 1 }], ...policy } as PolicyInput
  return configProblems({
    policies: where === 'global' ? [limit] : [],
    routes: [{ id: 'r', match: { path: '/r' }, policies: where === 'route' ? [{ type: 'api-key', kv: 'API_KEYS' }, limit] : [], action: { type: 'respond' } }],
    ...extra,
  })
}

describe('beforeAuth config', () => {
  const consumer = '"consumer" has no value before authentication (beforeAuth: true); key by "ip" or a header'
  const apiKey = '"apiKey" has no value before authentication (beforeAuth: true); key by "ip" or a header'
  const route = '"route" has no value in a global beforeAuth limit (it runs before routing); put the policy on the route instead'

  it('refuses key parts that need authentication, naming the exact field', () => {
    expect(problemsOf({ by: ['consumer'] })).toEqual([`routes[0].policies[1].by[0]: ${consumer}`])
    expect(problemsOf({ by: ['ip'], fallback: ['consumer'] })).toEqual([`routes[0].policies[1].fallback[0]: ${consumer}`])
    expect(problemsOf({ by: ['ip'], limits: [{ name: 'a', limit: 1, window: 1, by: ['apiKey', 'consumer'] }] })).toEqual([
      `routes[0].policies[1].limits[0].by[0]: ${apiKey}`,
      `routes[0].policies[1].limits[0].by[1]: ${consumer}`,
    ])
    expect(problemsOf({ limits: [], quotas: [{ name: 'q', limit: 5, period: 'day', by: ['ip'], fallback: ['consumer'] }] })).toEqual([
      `routes[0].policies[1].quotas[0].fallback[0]: ${consumer}`,
    ])
    expect(problemsOf({ limits: [], plans: true })).toEqual([
      'routes[0].policies[1].plans: plans are per consumer, and there is no consumer before authentication (beforeAuth: true)',
    ])
  })

  it('refuses "route" in a global beforeAuth limit, allows it on a route', () => {
    expect(problemsOf({ by: ['ip', 'route'] }, 'global')).toEqual([`policies[0].by[1]: ${route}`])
    expect(problemsOf({ by: ['consumer', 'route'] }, 'global')).toEqual([`policies[0].by[0]: ${consumer}`, `policies[0].by[1]: ${route}`])
    expect(problemsOf({ by: ['ip', 'route'] })).toEqual([])
  })

  it('accepts ip and header keys; without beforeAuth, consumer, apiKey and plans stay allowed; beforeAuth must be a boolean', () => {
    expect(problemsOf({ by: ['ip', { header: 'X-API-Key', hash: true }, { header: 'X-Tenant' }] }, 'global')).toEqual([])
    expect(problemsOf({ beforeAuth: false, by: ['consumer', 'route', 'apiKey'], plans: true }, 'global')).toEqual([])
    expect(problemsOf({ beforeAuth: 'yes' })).toEqual(['routes[0].policies[1].beforeAuth: expected boolean, received "yes"'])
  })
})
