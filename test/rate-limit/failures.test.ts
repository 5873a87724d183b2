/**
 * When the limiter can't answer — no binding, the object throws, the object hangs — `onError`
 * decides, the failure is logged, and the client gets a clear answer, never a crash or a hang.
 */
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { testGateway } from '../helpers'
import { freshIp, inObject, used } from './helpers'

function gateway(policy: Record<string, unknown>) {
  const config: GatewayConfigInput = {
    routes: [
      {
        id: 'limited',
        match: { path: '/limited' },
        policies: [{ type: 'rate-limit', limits: [{ name: 'burst', limit: 5, window: 60 }], ...policy } as never],
        action: { type: 'respond', body: { ok: true } },
      },
    ],
  }
  return testGateway(config)
}

const from = (ip: string) => ({ headers: { 'cf-connecting-ip': ip } })

async function breakObject(key: string) {
  await inObject(key, (instance) => {
    instance.clock = () => {
      throw new Error('disk on fire')
    }
  })
}

/** Holds the object's input gate for `ms`: every call to it waits that long. */
function stallObject(key: string, ms: number): Promise<void> {
  return inObject(key, (_, state) => {
    void state.blockConcurrencyWhile(() => new Promise((resolve) => setTimeout(resolve, ms)))
  })
}

describe('onError', () => {
  it('a missing binding: "allow" lets the request through without headers, "deny" answers 503', async () => {
    const open = gateway({ binding: 'NO_SUCH_LIMITER', onError: 'allow' })
    const res = await open.fetch('/limited', from(freshIp()))
    expect(res.status).toBe(200)
    expect(res.headers.get('ratelimit')).toBeNull()
    expect(open.logs[0]!.rateLimit).toMatchObject({ outcome: 'failed-open', error: 'no Durable Object binding "NO_SUCH_LIMITER"' })

    const closed = gateway({ binding: 'NO_SUCH_LIMITER', onError: 'deny' })
    const denied = await closed.fetch('/limited', from(freshIp()))
    expect(denied.status).toBe(503)
    expect(denied.headers.get('content-type')).toBe('application/problem+json')
    expect(denied.headers.get('retry-after')).toBe('1')
    expect(await denied.json()).toMatchObject({ code: 'ERR_RATE_LIMIT_UNAVAILABLE', status: 503, detail: 'Rate limiting is unavailable; try again shortly.' })
    expect(closed.logs[0]).toMatchObject({ status: 503, error: 'ERR_RATE_LIMIT_UNAVAILABLE', rateLimit: { outcome: 'failed-closed' } })
  })

  it('the object throws: "allow" admits, "deny" answers 503', async () => {
    const ip = freshIp()
    await breakObject(`ip=${ip}`)
    const open = await gateway({ onError: 'allow' }).fetch('/limited', from(ip))
    expect(open.status).toBe(200)
    const closed = await gateway({ onError: 'deny' }).fetch('/limited', from(ip))
    expect(closed.status).toBe(503)
    expect(await closed.json()).toMatchObject({ code: 'ERR_RATE_LIMIT_UNAVAILABLE' })
  })

  it('the object hangs: the wait is bounded by `timeout`, then onError applies', async () => {
    const ip = freshIp()
    const stalled = stallObject(`ip=${ip}`, 3000)
    // Setup, not an assertion: give the stall a head start so the requests can't reach the object
    // before it blocks (a loaded machine can deliver them in either order).
    await new Promise((resolve) => setTimeout(resolve, 300))
    const closedGw = gateway({ onError: 'deny', timeout: 100 })
    const openGw = gateway({ onError: 'allow', timeout: 100 })
    const [closed, open] = await Promise.all([closedGw.fetch('/limited', from(ip)), openGw.fetch('/limited', from(ip))])
    expect(closed.status).toBe(503)
    expect(open.status).toBe(200)
    expect(closedGw.logs[0]!.rateLimit).toMatchObject({ outcome: 'failed-closed', error: 'the rate limiter did not answer within 100 ms' })
    await stalled
  })

  it('fail closed refunds what the healthy objects reserved', async () => {
    const [ip, broken] = [freshIp(), `t-${crypto.randomUUID()}`]
    await breakObject(`h.x-tenant=${broken}`)
    const gw = gateway({
      onError: 'deny',
      limits: [
        { name: 'per-ip', limit: 5, window: 60 },
        { name: 'per-tenant', limit: 5, window: 60, by: [{ header: 'X-Tenant' }] },
      ],
    })
    const res = await gw.fetch('/limited', { headers: { 'cf-connecting-ip': ip, 'x-tenant': broken } })
    expect(res.status).toBe(503)
    expect(await used(`ip=${ip}`, 'route:limited/per-ip')).toBe(0)
  })

  it('a slow object that misses the deadline is refunded too once the request is refused', async () => {
    const policy = {
      timeout: 100,
      limits: [
        { name: 'per-ip', limit: 1, window: 60 },
        { name: 'per-tenant', limit: 5, window: 60, by: [{ header: 'X-Tenant' }] },
      ],
    }
    // Fail closed: the IP object admits, the tenant's misses the deadline -> 503.
    // Denied: the IP object (already at its limit) denies, the tenant's misses the deadline -> 429.
    for (const [onError, status] of [['deny', 503], ['allow', 429]] as const) {
      const [ip, tenant] = [freshIp(), `t-${crypto.randomUUID()}`]
      const gw = gateway({ ...policy, onError })
      if (status === 429) expect((await gw.fetch('/limited', from(ip))).status).toBe(200)
      const stalled = stallObject(`h.x-tenant=${tenant}`, 1500)
      // Setup, not an assertion: let the stall take hold before the request reaches the object.
      await new Promise((resolve) => setTimeout(resolve, 300))
      // testGateway waits for the response's waitUntil work: the late refund to the tenant's object.
      const res = await gw.fetch('/limited', { headers: { 'cf-connecting-ip': ip, 'x-tenant': tenant } })
      expect(res.status).toBe(status)
      await stalled
      // The late call ran in the object once the stall ended, and its unit was given back.
      expect(await used(`h.x-tenant=${tenant}`, 'route:limited/per-tenant')).toBe(0)
      expect(await used(`ip=${ip}`, 'route:limited/per-ip')).toBe(status === 429 ? 1 : 0)
    }
  })
})
