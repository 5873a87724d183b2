/** The demo routes of the bundled test config (same as config/demo.json), through the worker itself. */
import { env, exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import type { Echo } from '../support/gateway'
import { newKey, sign, Tenant } from './tokens'

describe('demo routes', () => {
  it('/me needs a token with the profile scope and forwards X-User-Id', async () => {
    // DEMO_ISSUER points at the test issuer's "demo" tenant (vitest.config.ts).
    const tenant = new Tenant('demo')
    const key = await newKey('RS256')
    await tenant.publish(key)
    const token = await sign(key, tenant.issuer, { aud: 'edgeway-demo', sub: 'ada', scope: 'profile' })
    const res = await exports.default.fetch('http://gw.test/me', { headers: { authorization: `Bearer ${token}`, 'x-user-id': 'spoofed' } })
    expect(res.status).toBe(200)
    const echo = (await res.json()) as Echo
    expect(echo.headers['x-user-id']).toBe('ada')
    expect(echo.headers.authorization).toBeUndefined()
    expect((await exports.default.fetch('http://gw.test/me')).status).toBe(401)
    const noScope = await sign(key, tenant.issuer, { aud: 'edgeway-demo', scope: 'email' })
    expect((await exports.default.fetch('http://gw.test/me', { headers: { authorization: `Bearer ${noScope}` } })).status).toBe(403)
  })

  it('/partner/* works with a key created through the admin API', async () => {
    const created = await exports.default.fetch('http://gw.test/_edgeway/api-keys', {
      method: 'POST',
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
      body: JSON.stringify({ consumer: 'acme' }),
    })
    expect(created.status).toBe(201)
    const { key } = (await created.json()) as { key: string }
    const res = await exports.default.fetch('http://gw.test/partner/orders', { headers: { 'x-api-key': key } })
    expect(res.status).toBe(200)
    const echo = (await res.json()) as Echo
    expect(echo.headers['x-consumer-id']).toBe('acme')
    expect(echo.headers['x-api-key']).toBeUndefined()
    expect((await exports.default.fetch('http://gw.test/partner/orders')).status).toBe(401)
  })
})
