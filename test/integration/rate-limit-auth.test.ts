/**
 * Rate limits and quotas keyed by the consumer that the real auth policies establish: JWT subjects
 * (tokens signed by the test issuer) and API key owners (hashes in secrets, or KV keys), per-plan
 * limits from `plans` + `consumers[id].plan`, the fallback key when there is no consumer, calendar
 * quotas, and exactness under a concurrent burst. Real RateLimiter Durable Objects.
 */
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { testGateway } from '../support/gateway'
import { freshIp, setClock, tokenConsumerKey, used } from '../rate-limit/helpers'
import { parseList } from '../rate-limit/sf'
import { configKeys, consumerId, kvKey, newIssuer, type Issuer } from './identity'

type PolicyInput = NonNullable<GatewayConfigInput['policies']>[number]
type Problem = { code: string; limit: string; limits: string[]; retryAfter: number }

/**
 * `/j` needs a token, `/k` an API key (config or KV), `/open` nothing; each answers who called.
 * `limit` is a global rate-limit policy (it covers all three routes).
 */
function gateway(iss: Issuer, limit: PolicyInput, more: { consumers?: GatewayConfigInput['consumers']; plans?: GatewayConfigInput['plans']; env?: Record<string, unknown> } = {}) {
  const who = { type: 'respond' as const, body: { consumer: '{consumer.id}', plan: '{consumer.plan}' } }
  return testGateway(
    {
      plans: more.plans ?? {},
      consumers: more.consumers ?? {},
      policies: [{ type: 'request-id' }, limit],
      routes: [
        { id: 'j', match: { path: '/j' }, policies: [{ type: 'jwt', issuers: [iss.config] }], action: who },
        { id: 'k', match: { path: '/k' }, policies: [{ type: 'api-key', kv: 'API_KEYS' }], action: who },
        { id: 'open', match: { path: '/open' }, action: who },
      ],
    },
    more.env,
  )
}

const status = async (res: Promise<Response>) => {
  const r = await res
  await r.body?.cancel()
  return r.status
}

describe('limits by consumer, with real authentication', () => {
  it('a JWT consumer and an API key consumer each get exactly their limit, from any IP; the same consumer through either credential shares one counter', async () => {
    const iss = await newIssuer()
    const [alice, bob, acme] = [consumerId('alice'), consumerId('bob'), consumerId('acme')]
    const keyed = await configKeys({ [acme]: {} })
    const gw = gateway(iss, { type: 'rate-limit', by: ['consumer'], fallback: ['ip'], limits: [{ name: 'per-consumer', limit: 2, window: 3600 }] }, { consumers: keyed.consumers, env: keyed.env })
    const jwtFrom = async (sub: string, ip: string) => gw.fetch('/j', { headers: { authorization: `Bearer ${await iss.token(sub)}`, 'cf-connecting-ip': ip } })
    const keyFrom = (key: string, ip: string) => gw.fetch('/k', { headers: { 'x-api-key': key, 'cf-connecting-ip': ip } })

    // Alice moves between addresses: still one counter.
    expect([await status(jwtFrom(alice, freshIp())), await status(jwtFrom(alice, freshIp())), await status(jwtFrom(alice, freshIp()))]).toEqual([200, 200, 429])
    // Acme from Alice's address: its own counter.
    const ip = freshIp()
    expect([await status(keyFrom(keyed.keys[acme]!, ip)), await status(keyFrom(keyed.keys[acme]!, ip)), await status(keyFrom(keyed.keys[acme]!, ip))]).toEqual([200, 200, 429])
    expect(await status(jwtFrom(bob, ip))).toBe(200)
    // A token's subject not in `consumers` is counted under its issuer; a configured consumer under its id.
    expect(await used(tokenConsumerKey(alice, iss.config.issuer), 'global/per-consumer')).toBe(2)
    expect(await used(`consumer=${acme}`, 'global/per-consumer')).toBe(2)
    expect(await used(tokenConsumerKey(bob, iss.config.issuer), 'global/per-consumer')).toBe(1)
    expect(await used(`ip=${ip}`, 'global/per-consumer')).toBe(0)
    // A token whose subject is Acme is Acme: the consumer is one identity, whichever policy found it.
    const asAcme = await jwtFrom(acme, freshIp())
    expect(asAcme.status).toBe(429)
    expect(await asAcme.json()).toMatchObject({ code: 'ERR_RATE_LIMITED', limit: 'per-consumer' } satisfies Partial<Problem>)
  })

  it('a request that fails authentication is answered 401 before rate limiting: no RateLimit fields, nothing counted', async () => {
    const iss = await newIssuer()
    const gw = gateway(iss, { type: 'rate-limit', by: ['consumer'], fallback: ['ip'], limits: [{ name: 'x', limit: 1, window: 3600 }] })
    const ip = freshIp()
    for (const authorization of ['Bearer a.b.c', 'Bearer ', 'Basic eDp5']) {
      const res = await gw.fetch('/j', { headers: { authorization, 'cf-connecting-ip': ip } })
      expect(res.status).toBe(401)
      expect(res.headers.get('ratelimit')).toBeNull()
      await res.body?.cancel()
    }
    expect(await used(`ip=${ip}`, 'global/x')).toBe(0)
    expect(gw.logs.every((line) => line.rateLimit === undefined)).toBe(true)
  })

  it('without a consumer (a public route) the fallback key (IP) counts; a token with no subject is refused, uncounted', async () => {
    const iss = await newIssuer()
    const gw = gateway(iss, { type: 'rate-limit', by: ['consumer'], fallback: ['ip'], limits: [{ name: 'fb', limit: 2, window: 3600 }] })
    const ip = freshIp()
    const noSubject = await iss.token(undefined)
    const statuses = [
      await status(gw.fetch('/open', { headers: { 'cf-connecting-ip': ip } })),
      // Issue 14: a token naming no consumer is a 401 (jwt `requireConsumer`, default true).
      await status(gw.fetch('/j', { headers: { authorization: `Bearer ${noSubject}`, 'cf-connecting-ip': ip } })),
      await status(gw.fetch('/open', { headers: { 'cf-connecting-ip': ip } })),
      await status(gw.fetch('/open', { headers: { 'cf-connecting-ip': ip } })),
    ]
    expect(statuses).toEqual([200, 401, 200, 429])
    expect(await used(`ip=${ip}`, 'global/fb')).toBe(2)
    expect(gw.logs.map((line) => (line.rateLimit as { fallback?: boolean } | undefined)?.fallback)).toEqual([true, undefined, true, true])
    // A subject from the same address has its own counter.
    expect(await status(gw.fetch('/j', { headers: { authorization: `Bearer ${await iss.token(consumerId('carol'))}`, 'cf-connecting-ip': ip } }))).toBe(200)
  })
})

describe('per-plan limits, with real authentication', () => {
  it("apply the plan of the consumer a token or an API key (config or KV) names; a consumer without a plan gets only the policy's limits", async () => {
    const iss = await newIssuer()
    const [gold, free, kvGold, unlisted] = [consumerId('gold'), consumerId('free'), consumerId('kv-gold'), consumerId('unlisted')]
    const keyed = await configKeys({ [free]: { plan: 'free' } })
    const gw = gateway(
      iss,
      { type: 'rate-limit', by: ['consumer'], fallback: ['ip'], limits: [{ name: 'everyone', limit: 100, window: 3600 }], plans: true },
      {
        plans: {
          gold: { limits: [{ name: 'gold-burst', limit: 3, window: 3600 }] },
          free: { quotas: [{ name: 'daily', limit: 2, period: 'day' }] },
        },
        consumers: { ...keyed.consumers, [gold]: { plan: 'gold' }, [kvGold]: { plan: 'gold' } },
        env: keyed.env,
      },
    )
    const asJwt = async (sub: string) => gw.fetch('/j', { headers: { authorization: `Bearer ${await iss.token(sub)}` } })
    const asKey = (key: string) => gw.fetch('/k', { headers: { 'x-api-key': key } })

    const first = await asJwt(gold)
    expect(await first.json()).toEqual({ consumer: gold, plan: 'gold' })
    expect(parseList(first.headers.get('ratelimit-policy')!).map((i) => [i.value, i.params.q, i.params.w])).toEqual([
      ['everyone', 100, 3600],
      ['gold-burst', 3, 3600],
    ])
    expect([await status(asJwt(gold)), await status(asJwt(gold))]).toEqual([200, 200])
    const goldDenied = await asJwt(gold)
    expect(goldDenied.status).toBe(429)
    expect(await goldDenied.json()).toMatchObject({ code: 'ERR_RATE_LIMITED', limit: 'gold-burst', limits: ['gold-burst'] })
    expect(await used(`consumer=${gold}`, 'plan/gold-burst')).toBe(3)
    expect(await used(`consumer=${gold}`, 'global/everyone')).toBe(3)

    // The free plan's daily quota, for an API key kept in config.
    const freeKey = keyed.keys[free]!
    const freeFirst = await asKey(freeKey)
    expect(parseList(freeFirst.headers.get('ratelimit-policy')!).map((i) => i.value)).toEqual(['everyone', 'daily'])
    await freeFirst.body?.cancel()
    expect(await status(asKey(freeKey))).toBe(200)
    const freeDenied = await asKey(freeKey)
    expect(freeDenied.status).toBe(429)
    expect(await freeDenied.json()).toMatchObject({ code: 'ERR_QUOTA_EXCEEDED', limit: 'daily' })

    // A KV key's owner gets its plan too; counted per consumer, not per key.
    const [k1, k2] = [await kvKey(gw, kvGold), await kvKey(gw, kvGold)]
    expect([await status(asKey(k1)), await status(asKey(k2)), await status(asKey(k1)), await status(asKey(k2))]).toEqual([200, 200, 200, 429])
    expect(await used(`consumer=${kvGold}`, 'plan/gold-burst')).toBe(3)

    // A subject the config doesn't list: no plan, only the policy's own limit.
    const plain = await asJwt(unlisted)
    expect(await plain.json()).toEqual({ consumer: unlisted })
    expect(parseList(plain.headers.get('ratelimit')!)).toEqual([{ value: 'everyone', params: { r: 99, t: 3600 } }])
  })
})

describe('quotas per consumer', () => {
  it('a daily quota counts per consumer in UTC days, and starts again at midnight', async () => {
    const iss = await newIssuer()
    // Exact: the test moves the object's clock past midnight, which a gateway denying locally would not see.
    const gw = gateway(iss, { type: 'rate-limit', mode: 'exact', by: ['consumer'], quotas: [{ name: 'daily', limit: 2, period: 'day' }] })
    const [alice, bob] = [consumerId('alice'), consumerId('bob')]
    const [aliceKey, bobKey] = [tokenConsumerKey(alice, iss.config.issuer), tokenConsumerKey(bob, iss.config.issuer)]
    await setClock(aliceKey, '2026-03-10T23:59:58Z')
    await setClock(bobKey, '2026-03-10T23:59:58Z')
    const as = async (sub: string) => gw.fetch('/j', { headers: { authorization: `Bearer ${await iss.token(sub)}` } })
    expect([await status(as(alice)), await status(as(alice))]).toEqual([200, 200])
    const denied = await as(alice)
    expect(denied.status).toBe(429)
    expect(denied.headers.get('retry-after')).toBe('2')
    expect(denied.headers.get('ratelimit')).toBe('"daily";r=0;t=2')
    expect(await denied.json()).toMatchObject({ code: 'ERR_QUOTA_EXCEEDED', limit: 'daily', retryAfter: 2 })
    expect(await status(as(bob))).toBe(200)
    await setClock(aliceKey, '2026-03-11T00:00:00Z')
    const nextDay = await as(alice)
    expect(nextDay.status).toBe(200)
    expect(nextDay.headers.get('ratelimit')).toBe('"daily";r=1;t=86400')
    expect(await used(aliceKey, 'global/daily')).toBe(1)
  })
})

describe('exactness with real consumers', () => {
  it('concurrent bursts of two JWT consumers and an API key consumer admit exactly the limit for each', async () => {
    const iss = await newIssuer()
    const [alice, bob, acme] = [consumerId('alice'), consumerId('bob'), consumerId('acme')]
    const keyed = await configKeys({ [acme]: {} })
    // Fail closed with a generous timeout: on a loaded machine a fail-open timeout would let requests through uncounted.
    const gw = gateway(iss, { type: 'rate-limit', by: ['consumer'], limits: [{ name: 'burst', limit: 10, window: 3600 }], onError: 'deny', timeout: 60_000 }, { consumers: keyed.consumers, env: keyed.env })
    const [aliceToken, bobToken] = [await iss.token(alice), await iss.token(bob)]
    const requests = Array.from({ length: 120 }, (_, i) => {
      const ip = freshIp()
      if (i % 3 === 0) return gw.fetch('/j', { headers: { authorization: `Bearer ${aliceToken}`, 'cf-connecting-ip': ip } })
      if (i % 3 === 1) return gw.fetch('/j', { headers: { authorization: `Bearer ${bobToken}`, 'cf-connecting-ip': ip } })
      return gw.fetch('/k', { headers: { 'x-api-key': keyed.keys[acme]!, 'cf-connecting-ip': ip } })
    })
    const responses = await Promise.all(requests)
    const admitted: Record<string, number> = {}
    for (const res of responses) {
      expect([200, 429]).toContain(res.status)
      if (res.status === 200) {
        const { consumer } = (await res.json()) as { consumer: string }
        admitted[consumer] = (admitted[consumer] ?? 0) + 1
      } else await res.body?.cancel()
    }
    expect(admitted).toEqual({ [alice]: 10, [bob]: 10, [acme]: 10 })
    for (const key of [tokenConsumerKey(alice, iss.config.issuer), tokenConsumerKey(bob, iss.config.issuer), `consumer=${acme}`]) expect(await used(key, 'global/burst')).toBe(10)
  })
})
