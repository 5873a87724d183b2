/**
 * `GET /_edgeway/rate-limits?consumer=&issuer=` reads the key real requests of that consumer count
 * under, whoever vouches for it: a token's subject the consumer store knows (plain id), one it
 * knows only for another issuer (issuer-qualified), an API key's stored consumer. Real signed
 * tokens, real KV, real `RateLimiter` objects.
 */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { testGateway, type TestGateway } from '../support/gateway'
import { bearer, newKey, sign, Tenant } from '../auth/tokens'
import { tokenConsumerKey } from './helpers'

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'application/json' }
/** Object names are shared by every test in a file: each test gets its own consumer. */
const fresh = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`
const LIMIT = { type: 'rate-limit' as const, mode: 'exact' as const, by: ['consumer' as const], limits: [{ name: 'hourly', limit: 10, window: 3600 }] }

function storeGateway(issuer: { issuer: string; jwksUrl: string; audience: string }): TestGateway {
  const config: GatewayConfigInput = {
    gateway: { consumerStore: { kv: 'API_KEYS' } },
    routes: [
      { id: 'token', match: { path: '/token' }, policies: [{ type: 'jwt', issuers: [issuer] }, LIMIT], action: { type: 'respond' } },
      { id: 'key', match: { path: '/key' }, policies: [{ type: 'api-key', kv: 'API_KEYS' }, LIMIT], action: { type: 'respond' } },
    ],
  }
  return testGateway(config)
}

/** The admin read: the key it names and the route's count under it. */
async function adminRead(gw: TestGateway, query: Record<string, string>, route: string): Promise<{ key: string; count: number }> {
  const res = await gw.fetch(`/_edgeway/rate-limits?${new URLSearchParams(query)}`, { headers: ADMIN })
  expect(res.status).toBe(200)
  const body = (await res.json()) as { key: string; counters: { id: string; count: number }[] }
  return { key: body.key, count: body.counters.find((c) => c.id === `route:${route}/hourly`)?.count ?? 0 }
}

describe('the admin read of a consumer finds the counters its requests use', () => {
  it("a token's subject in the consumer store: its plain id, as requests count", async () => {
    const tenant = new Tenant()
    const key = await newKey('ES256')
    await tenant.publish(key)
    const gw = storeGateway({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, audience: 'api' })
    const [stored, pinned] = [fresh('stored'), fresh('pinned')]
    expect((await gw.fetch('/_edgeway/consumers', { method: 'POST', headers: ADMIN, body: JSON.stringify({ id: stored }) })).status).toBe(201)
    const elsewhere = { id: pinned, issuer: 'https://elsewhere.example/' }
    expect((await gw.fetch('/_edgeway/consumers', { method: 'POST', headers: ADMIN, body: JSON.stringify(elsewhere) })).status).toBe(201)
    for (const sub of [stored, stored, pinned]) expect((await gw.fetch('/token', bearer(await sign(key, tenant.issuer, { sub })))).status).toBe(200)

    expect(await adminRead(gw, { consumer: stored, issuer: tenant.issuer }, 'token')).toEqual({ key: `consumer=${stored}`, count: 2 })
    // Stored for another issuer only: this issuer's same subject is a stranger, counted by issuer.
    expect(await adminRead(gw, { consumer: pinned, issuer: tenant.issuer }, 'token')).toEqual({ key: tokenConsumerKey(pinned, tenant.issuer), count: 1 })
  })

  it("an API key's stored consumer: its plain id", async () => {
    const tenant = new Tenant()
    const gw = storeGateway({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, audience: 'api' })
    const id = fresh('partner')
    await gw.fetch('/_edgeway/consumers', { method: 'POST', headers: ADMIN, body: JSON.stringify({ id }) })
    const created = await gw.fetch('/_edgeway/api-keys', { method: 'POST', headers: ADMIN, body: JSON.stringify({ consumer: id }) })
    const { key } = (await created.json()) as { key: string }
    for (let i = 0; i < 3; i++) expect((await gw.fetch('/key', { headers: { 'x-api-key': key } })).status).toBe(200)
    expect(await adminRead(gw, { consumer: id }, 'key')).toEqual({ key: `consumer=${id}`, count: 3 })
  })
})
