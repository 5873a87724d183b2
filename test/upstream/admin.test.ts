/**
 * `GET /_edgeway/upstreams`: each target's circuit breaker and passive ejection as the answering
 * isolate sees them, and a pool's shared active health, so an operator can see why a target gets
 * no traffic. Real targets (the fleet), a real HealthChecker object, the gateway's clock moved by hand.
 */
import { runDurableObjectAlarm } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { testGateway } from '../support/gateway'
import { pollUntil } from '../support/runtime'
import { controlClock, poolRoutes, setMode, spawn } from './fleet'

const auth = { authorization: `Bearer ${env.ADMIN_TOKEN}` }

type Status = {
  scope: Record<string, string>
  upstreams: {
    name: string
    fallback?: unknown
    healthCheckedAt?: string | null
    targets: { id: string; target: string; weight: number; ejectedForMs?: number; breaker?: { state: string; reopensInMs?: number }; health?: { healthy: boolean; last?: unknown } | null }[]
  }[]
}

async function upstreams(gw: { fetch: (path: string, init?: RequestInit) => Promise<Response> }): Promise<Status> {
  const res = await gw.fetch('/_edgeway/upstreams', { headers: auth })
  expect(res.status).toBe(200)
  return res.json()
}

describe('admin: upstream state', () => {
  it("shows an open circuit and an ejected target, when each returns, and says they are this isolate's", async () => {
    const clock = controlClock()
    const [a, b] = await spawn(2)
    const gw = testGateway(
      {
        upstreams: {
          pool: {
            targets: [{ url: a!.url, id: 'a' }, { url: b!.url, id: 'b', weight: 3 }],
            circuitBreaker: { failures: 2, openMs: 5_000 },
            passive: { failures: 1, ejectMs: 20_000, statuses: [502] },
            fallback: { status: 503, body: 'later' },
          },
        },
        routes: poolRoutes(),
      },
      {},
      { runtime: clock },
    )
    const before = await upstreams(gw)
    expect(before.scope.breaker).toBe('this isolate')
    expect(before.upstreams).toEqual([
      {
        name: 'pool',
        fallback: { status: 503 },
        targets: [
          { id: 'a', target: new URL(a!.url).origin, weight: 1, breaker: { state: 'closed' } },
          { id: 'b', target: new URL(b!.url).origin, weight: 3, breaker: { state: 'closed' } },
        ],
      },
    ])

    // a answers 500: two failures open its circuit (500 is no ejection status here).
    await setMode(a!, 'fail', { status: 500 })
    for (let i = 0; i < 8; i++) await (await gw.fetch('/x')).body?.cancel()
    // b answers 502: ejected on its first failure.
    await setMode(b!, 'fail', { status: 502 })
    for (let i = 0; i < 2; i++) await (await gw.fetch('/x')).body?.cancel()
    await clock.advance(1_000)
    const during = (await upstreams(gw)).upstreams[0]!.targets
    expect(during[0]).toMatchObject({ id: 'a', breaker: { state: 'open', reopensInMs: 4_000 } })
    expect(during[0]!.ejectedForMs).toBeUndefined()
    expect(during[1]).toMatchObject({ id: 'b', breaker: { state: 'closed' } })
    expect(during[1]!.ejectedForMs).toBeGreaterThan(18_000)
    expect(during[1]!.ejectedForMs).toBeLessThanOrEqual(19_000)

    // Reading the state changes none of it: asked again, the same.
    expect((await upstreams(gw)).upstreams[0]!.targets).toEqual(during)

    await clock.advance(4_000)
    expect((await upstreams(gw)).upstreams[0]!.targets[0]!.breaker).toEqual({ state: 'half-open' })
    await setMode(a!, 'up')
    await setMode(b!, 'up')
  })

  it('a pool with healthCheck shows the shared state its HealthChecker object holds', async () => {
    const clock = controlClock()
    const name = `p-${crypto.randomUUID().slice(0, 8)}`
    const [a, b] = await spawn(2)
    const gw = testGateway(
      {
        gateway: { name: 'admin-hc' },
        upstreams: { [name]: { targets: [{ url: a!.url, id: 't0' }, { url: b!.url, id: 't1' }], healthCheck: { path: '/health', interval: 60_000, timeout: 1_000, healthyThreshold: 1, unhealthyThreshold: 1, cacheMs: 5_000 } } },
        routes: poolRoutes(name),
      },
      {},
      { runtime: clock },
    )
    const stub = env.HEALTH_CHECKER.get(env.HEALTH_CHECKER.idFromName(`admin-hc/${name}`))
    expect((await gw.fetch('/x')).status).toBe(200) // the first read starts the object's alarm
    expect((await upstreams(gw)).upstreams[0]!.targets[1]!.health).toMatchObject({ healthy: true })
    await setMode(b!, 'down')
    expect(await runDurableObjectAlarm(stub)).toBe(true)
    // The isolate's copy is fresh for cacheMs: still the old state, as requests see it.
    expect((await upstreams(gw)).upstreams[0]!.targets[1]!.health).toMatchObject({ healthy: true })
    await clock.advance(5_001)
    // Stale: this read answers with the copy in hand and refreshes it after; a later one sees the change.
    const status = await pollUntil(() => upstreams(gw), (s) => s.upstreams[0]!.targets[1]!.health?.healthy === false, { tries: 20 })
    const targets = status.upstreams[0]!.targets
    expect(targets[0]!.health).toMatchObject({ healthy: true })
    expect(targets[1]!.health).toMatchObject({ healthy: false, last: 'unreachable' })
    expect(status.upstreams[0]!.healthCheckedAt).toMatch(/^\d{4}-\d\d-\d\dT/)
    expect(status.scope.health).toMatch(/shared/)
    await setMode(b!, 'up')
  })

  it('needs the admin token, and answers only GET', async () => {
    const gw = testGateway({ upstreams: { api: { url: 'http://127.0.0.1:9' } }, routes: poolRoutes('api') })
    expect((await gw.fetch('/_edgeway/upstreams')).status).toBe(401)
    const post = await gw.fetch('/_edgeway/upstreams', { method: 'POST', headers: auth })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toContain('GET')
    const single = await upstreams(gw)
    expect(single.upstreams).toEqual([{ name: 'api', targets: [{ id: '0', target: 'http://127.0.0.1:9', weight: 1 }] }])
  })
})
