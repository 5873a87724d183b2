/**
 * The consumer store: consumers in KV managed through the admin API (strict, bounded input), read
 * by `api-key` (KV keys), `jwt` (real signed tokens), plans and rate limits (real `RateLimiter`
 * objects), `acl`; cached per isolate on the injected clock; a failing store is 503.
 */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { configProblems } from '../support/config'
import { originConfig, testGateway, type TestGateway } from '../support/gateway'
import { cacheStatus, seq, tagged } from '../cache/helpers'
import { consumerLookup, deleteConsumer, writeConsumer } from '../../src/auth/consumer-store'
import { stoppedClock, waitFor } from '../support/runtime'
import { bearer, newKey, sign, Tenant } from './tokens'

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'application/json' }
const fresh = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`
const WHO = { id: '{consumer.id}', plan: '{consumer.plan}', tier: '{consumer.metadata.tier}' }

function storeConfig(auth: Record<string, unknown>, extra: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return {
    gateway: { consumerStore: { kv: 'API_KEYS', groups: ['beta'] } },
    plans: { gold: { limits: [{ name: 'gold-burst', limit: 2, window: 3600 }] }, free: {} },
    consumers: { acme: { plan: 'free', groups: ['staff'] } },
    routes: [
      { id: 'who', match: { path: '/who' }, policies: [auth as never], action: { type: 'respond', body: WHO } },
      { id: 'beta', match: { path: '/beta' }, policies: [auth as never, { type: 'acl', allow: { groups: ['beta'] } }], action: { type: 'respond', body: WHO } },
      { id: 'limited', match: { path: '/limited' }, policies: [auth as never, { type: 'rate-limit', plans: true }], action: { type: 'respond', body: WHO } },
    ],
    ...extra,
  }
}

const admin = (gw: TestGateway, method: string, path: string, body?: unknown) =>
  gw.fetch(`/_edgeway${path}`, { method, headers: ADMIN, ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }) })

async function newKeyFor(gw: TestGateway, consumer: string): Promise<string> {
  const res = await admin(gw, 'POST', '/api-keys', { consumer })
  expect(res.status).toBe(201)
  return ((await res.json()) as { key: string }).key
}

describe('consumer store admin API', () => {
  const gw = testGateway(storeConfig({ type: 'api-key', kv: 'API_KEYS' }))

  it('creates, reads, lists, replaces and deletes a consumer', async () => {
    const id = fresh('initech')
    const created = await admin(gw, 'POST', '/consumers', { id, plan: 'gold', groups: ['beta', 'staff'], metadata: { tier: 'a' } })
    expect(created.status).toBe(201)
    expect(await created.json()).toMatchObject({ id, plan: 'gold', groups: ['beta', 'staff'], metadata: { tier: 'a' } })
    expect(await (await admin(gw, 'GET', `/consumers/${id}`)).json()).toMatchObject({ id, plan: 'gold' })
    let listed: { consumers: { id: string }[]; cursor?: string } = { consumers: [] }
    const ids: string[] = []
    do {
      listed = await (await admin(gw, 'GET', `/consumers${listed.cursor ? `?cursor=${listed.cursor}` : ''}`)).json()
      ids.push(...listed.consumers.map((c) => c.id))
    } while (listed.cursor)
    expect(ids).toContain(id)

    const replaced = await admin(gw, 'PUT', `/consumers/${id}`, { plan: 'free' })
    expect(replaced.status).toBe(200)
    const body = (await replaced.json()) as Record<string, unknown>
    expect(body).toMatchObject({ id, plan: 'free' })
    expect(body.groups).toBeUndefined()

    expect((await admin(gw, 'DELETE', `/consumers/${id}`)).status).toBe(200)
    const gone = await admin(gw, 'GET', `/consumers/${id}`)
    expect(gone.status).toBe(404)
    expect(gone.headers.get('content-type')).toBe('application/problem+json')
  })

  it('refuses duplicates, configured ids, unknown fields, plans and groups, large metadata and bodies', async () => {
    const id = fresh('dup')
    expect((await admin(gw, 'POST', '/consumers', { id })).status).toBe(201)
    const cases: [unknown, number, string][] = [
      [{ id }, 409, `Consumer "${id}" already exists; PUT /consumers/${id} edits it.`],
      [{ id: 'acme' }, 409, 'Consumer "acme" is in the config; edit it there.'],
      [{ id: fresh('x'), role: 'admin' }, 400, 'role: Invalid key: Expected never but received "role"'],
      [{ id: fresh('x'), plan: 'platinum' }, 400, 'plan: unknown plan "platinum" (known: gold, free)'],
      [{ id: fresh('x'), plan: 'constructor' }, 400, 'plan: unknown plan "constructor" (known: gold, free)'],
      [{ id: fresh('x'), groups: ['staff', 'admins'] }, 400, 'groups.1: unknown group "admins" (known: staff, beta)'],
      [{ id: 'bad id!' }, 400, 'id: must be letters, digits, "_", "-" or "." (at most 128)'],
      [{ id: fresh('x'), metadata: { blob: 'x'.repeat(4100) } }, 400, 'metadata: must be at most 4096 bytes as JSON'],
      ['{"id":', 400, 'The body is not valid JSON.'],
      [{ id: fresh('x'), metadata: { blob: 'x'.repeat(9000) } }, 413, 'The body is over 8192 bytes.'],
    ]
    for (const [body, status, detail] of cases) {
      const res = await admin(gw, 'POST', '/consumers', body)
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(status)
      expect(await res.json()).toMatchObject({ detail })
    }
    expect((await admin(gw, 'PUT', `/consumers/${id}`, { id })).status).toBe(400)
    expect((await admin(gw, 'PUT', '/consumers/nobody-here', {})).status).toBe(404)
    const wrong = await admin(gw, 'PATCH', `/consumers/${id}`, {})
    expect(wrong.status).toBe(405)
    expect(wrong.headers.get('allow')).toBe('GET, HEAD, PUT, DELETE')
    expect((await gw.fetch('/_edgeway/consumers')).status).toBe(401)
  })

  it('is a 404 when no store is configured', async () => {
    const plain = testGateway(storeConfig({ type: 'api-key', kv: 'API_KEYS' }, { gateway: {}, consumers: { acme: { groups: ['beta'] } } }))
    const res = await admin(plain, 'POST', '/consumers', { id: 'x' })
    expect(res.status).toBe(404)
    expect(await res.json()).toMatchObject({ detail: 'No consumer store is configured (gateway.consumerStore).' })
  })
})

describe('stored consumers authenticate like configured ones', () => {
  it('api-key: a key of a stored consumer carries its plan, metadata and groups; deleting the consumer kills the key', async () => {
    const gw = testGateway(storeConfig({ type: 'api-key', kv: 'API_KEYS' }))
    const id = fresh('globex')
    await admin(gw, 'POST', '/consumers', { id, plan: 'gold', groups: ['beta'], metadata: { tier: 'b' } })
    const key = await newKeyFor(gw, id)
    const res = await gw.fetch('/who', { headers: { 'x-api-key': key } })
    expect(await res.json()).toEqual({ id, plan: 'gold', tier: 'b' })
    expect((await gw.fetch('/beta', { headers: { 'x-api-key': key } })).status).toBe(200)
    // A configured consumer without the group is refused by the same acl.
    expect((await gw.fetch('/beta', { headers: { 'x-api-key': await newKeyFor(gw, 'acme') } })).status).toBe(403)

    await admin(gw, 'DELETE', `/consumers/${id}`)
    const refused = await gw.fetch('/who', { headers: { 'x-api-key': key } })
    expect(refused.status).toBe(401)
    expect(gw.logs.at(-1)).toMatchObject({ auth: { code: 'ERR_API_KEY_UNKNOWN_CONSUMER' } })
    // And no new key for a consumer that exists nowhere.
    const none = await admin(gw, 'POST', '/api-keys', { consumer: id })
    expect(none.status).toBe(400)
    expect(await none.json()).toMatchObject({ detail: `consumer: unknown consumer "${id}" (known: acme, or one in the consumer store)` })
  })

  it('rate limits: a stored consumer\'s plan applies, counted per consumer', async () => {
    const gw = testGateway(storeConfig({ type: 'api-key', kv: 'API_KEYS' }))
    const id = fresh('hooli')
    await admin(gw, 'POST', '/consumers', { id, plan: 'gold' })
    const key = await newKeyFor(gw, id)
    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await gw.fetch('/limited', { headers: { 'x-api-key': key } })).status)
    expect(statuses).toEqual([200, 200, 429])
  })

  it('cache scope "consumer": two stored consumers never share an entry; one consumer\'s keys do', async () => {
    const gw = testGateway(
      originConfig({
        gateway: { consumerStore: { kv: 'API_KEYS' } },
        routes: [
          {
            id: 'cached',
            match: { path: '/c/*' },
            policies: [{ type: 'api-key', kv: 'API_KEYS' }, { type: 'cache', scope: 'consumer', defaultTtl: 60 }, { type: 'headers', request: { set: { 'X-Consumer-Id': '{consumer.id}' } } }],
            action: { type: 'proxy', upstream: 'origin', stripPrefix: '/c' },
          },
        ],
      }),
    )
    const [one, two] = [fresh('one'), fresh('two')]
    await admin(gw, 'POST', '/consumers', { id: one })
    await admin(gw, 'POST', '/consumers', { id: two })
    const [oneKey, oneOtherKey, twoKey] = [await newKeyFor(gw, one), await newKeyFor(gw, one), await newKeyFor(gw, two)]
    const t = tagged()
    const get = (key: string) => gw.fetch(`/c/echo/${t.tag}`, { headers: t.headers({ 'x-api-key': key }) })
    const first = await get(oneKey)
    expect(await first.text()).toContain(one)
    const again = await get(oneOtherKey)
    expect(cacheStatus(again)).toMatch(/^edgeway; hit/)
    expect(seq(again)).toBe(1)
    const other = await get(twoKey)
    expect(seq(other)).toBe(2)
    const body = await other.text()
    expect(body).toContain(two)
    expect(body).not.toContain(one)
  })

  it('jwt: a token whose subject is stored gets its plan and groups; a pinned issuer is respected', async () => {
    const tenant = new Tenant()
    const key = await newKey('ES256')
    await tenant.publish(key)
    const gw = testGateway(storeConfig({ type: 'jwt', issuers: [{ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, audience: 'api' }] }))
    const [free, pinned] = [fresh('sub'), fresh('pinned')]
    await admin(gw, 'POST', '/consumers', { id: free, plan: 'gold', groups: ['beta'] })
    await admin(gw, 'POST', '/consumers', { id: pinned, plan: 'gold', issuer: 'https://elsewhere.example/' })
    expect(await (await gw.fetch('/who', bearer(await sign(key, tenant.issuer, { sub: free })))).json()).toMatchObject({ id: free, plan: 'gold' })
    expect((await gw.fetch('/beta', bearer(await sign(key, tenant.issuer, { sub: free })))).status).toBe(200)
    // Pinned to another issuer: this issuer's same subject is a stranger, with no plan.
    const stranger = (await (await gw.fetch('/who', bearer(await sign(key, tenant.issuer, { sub: pinned })))).json()) as Record<string, unknown>
    expect(stranger.id).toBe(pinned)
    expect(stranger.plan).toBeUndefined()
    expect((await gw.fetch('/who', bearer(await sign(key, tenant.issuer, { sub: fresh('nobody') })))).status).toBe(200)
  })
})

describe('the per-isolate cache and failures', () => {
  it('a change made elsewhere is seen once cacheSeconds pass on the runtime clock', async () => {
    const clock = stoppedClock()
    const gw = testGateway(storeConfig({ type: 'api-key', kv: 'API_KEYS' }), {}, { runtime: clock })
    const id = fresh('umbrella')
    await admin(gw, 'POST', '/consumers', { id, plan: 'gold' })
    const key = await newKeyFor(gw, id)
    const plan = async () => ((await (await gw.fetch('/who', { headers: { 'x-api-key': key } })).json()) as { plan: string }).plan
    expect(await plan()).toBe('gold')
    // Another isolate's admin call: straight into KV, this isolate's cache doesn't know.
    await env.API_KEYS.put(`consumer:${id}`, JSON.stringify({ id, plan: 'free', createdAt: '', updatedAt: '' }))
    expect(await plan()).toBe('gold')
    clock.advance(29_000)
    expect(await plan()).toBe('gold')
    clock.advance(1_000)
    expect(await plan()).toBe('free')
    // A deletion elsewhere too: the key stops working after the cache period.
    await env.API_KEYS.delete(`consumer:${id}`)
    clock.advance(30_000)
    expect((await gw.fetch('/who', { headers: { 'x-api-key': key } })).status).toBe(401)
  })

  it('a read under way while this isolate deletes the consumer is not cached: the next lookup finds it gone', async () => {
    // The real namespace, its first read held after it has read: what KV held before the deletion.
    let release = () => {}
    const held = new Promise<void>((resolve) => (release = resolve))
    let reads = 0
    const kv = {
      async get(key: string, options: KVNamespaceGetOptions<'json'>) {
        const read = ++reads
        const found = await env.API_KEYS.get(key, options)
        if (read === 1) await held
        return found
      },
      put: (key: string, value: string) => env.API_KEYS.put(key, value),
      delete: (key: string) => env.API_KEYS.delete(key),
    } as unknown as KVNamespace
    const id = fresh('race')
    await writeConsumer(kv, { id, plan: 'gold', createdAt: '', updatedAt: '' })
    const lookup = consumerLookup({ gateway: { consumerStore: { kv: 'RACE_STORE', cacheSeconds: 30, groups: [] } } } as never, { RACE_STORE: kv } as never)!
    const clock = stoppedClock()
    const reading = lookup(id, clock)
    await waitFor(() => reads === 1)
    await deleteConsumer(kv, id)
    release()
    // The request whose read began before the deletion may still see the consumer...
    expect((await reading)?.plan).toBe('gold')
    // ...but no later one in this isolate does, though the clock has not moved.
    expect(await lookup(id, clock)).toBeUndefined()
    expect(reads).toBe(2)
  })

  it('a store that cannot be read is 503 problem+json, for tokens and keys', async () => {
    const tenant = new Tenant()
    const key = await newKey('ES256')
    await tenant.publish(key)
    const broken = { gateway: { consumerStore: { kv: 'NO_SUCH_KV', groups: ['beta'] } } }
    const gw = testGateway(storeConfig({ type: 'jwt', issuers: [{ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, audience: 'api' }] }, broken))
    const res = await gw.fetch('/who', bearer(await sign(key, tenant.issuer, { sub: fresh('s') })))
    expect(res.status).toBe(503)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(res.headers.get('retry-after')).toBe('5')
    expect(await res.json()).toMatchObject({ code: 'ERR_AUTH_UNAVAILABLE', detail: 'Consumers cannot be looked up right now.' })
    expect(gw.logs.at(-1)).toMatchObject({ auth: { outcome: 'unavailable', code: 'ERR_CONSUMER_STORE' } })
    // A configured consumer needs no store.
    expect((await gw.fetch('/who', bearer(await sign(key, tenant.issuer, { sub: 'acme' })))).status).toBe(200)
  })
})

describe('consumer store config', () => {
  it('acl may name the store\'s declared groups; bad settings are named at their path', () => {
    const config = (consumerStore: unknown, group = 'beta') => ({
      gateway: { consumerStore },
      routes: [{ id: 'r', match: { path: '/' }, policies: [{ type: 'api-key', kv: 'API_KEYS' }, { type: 'acl', allow: { groups: [group] } }], action: { type: 'respond' } }],
    })
    expect(configProblems(config({ kv: 'API_KEYS', groups: ['beta'] }))).toEqual([])
    expect(configProblems(config({ kv: 'API_KEYS' }))).toEqual(['routes[0].policies[1].allow.groups[0]: unknown group "beta" (known: none)'])
    expect(configProblems(config({ kv: 'API_KEYS', groups: ['beta'], cacheSeconds: 600 }))[0]).toMatch(/^gateway\.consumerStore\.cacheSeconds: /)
    expect(configProblems(config({ groups: ['beta'] }))[0]).toMatch(/^gateway\.consumerStore\.kv: /)
  })

  it('a store lookup counts in the subrequest budget', () => {
    const config = (consumerStore?: unknown) => ({
      gateway: { maxSubrequests: 1, ...(consumerStore !== undefined && { consumerStore }) },
      routes: [{ id: 'r', match: { path: '/' }, policies: [{ type: 'api-key', kv: 'API_KEYS' }], action: { type: 'respond' } }],
    })
    expect(configProblems(config())).toEqual([])
    expect(configProblems(config({ kv: 'API_KEYS' }))).toEqual([
      'routes[0]: needs up to 2 subrequests per request (action 0, policies 2), over the limit of 1 (gateway.plan "free")',
    ])
  })
})
