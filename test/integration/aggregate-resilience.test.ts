/**
 * Aggregation over resilient upstreams: an aggregate call goes through the same `callUpstream` as a
 * proxy route, so it is balanced over a pool, retried, failed over and cut short by an open breaker
 * exactly as the proxy route to the same upstream is. Real origins from the resilience fleet
 * (test/node/fleet.ts); each test spawns its own instances.
 */
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { testGateway } from '../support/gateway'
import { setMode, spawn, stats, type Instance } from '../upstream/fleet'

type UpstreamInput = NonNullable<GatewayConfigInput['upstreams']>[string]
type Problem = { status: number; code: string; call: string; reason: string; upstreamStatus?: number }

/** Retries that only the test's own tries consume: no budget refusals, near-zero backoff. */
const RETRIES = { backoff: { base: 1, max: 2 }, budget: { percent: 100, minRetries: 100 } }

const pool = (instances: Instance[], more: Partial<UpstreamInput> = {}): UpstreamInput => ({
  targets: instances.map((i) => ({ url: i.url, id: i.id })),
  ...more,
})

/** A gateway with a proxy route per upstream (`/q/<name>/*`) and an aggregate route (`/agg`) over the same upstreams. */
function gateway(upstreams: Record<string, UpstreamInput>, calls: { name: string; upstream: string; required?: boolean }[]) {
  return testGateway({
    upstreams,
    routes: [
      ...Object.keys(upstreams).map((name) => ({ id: `proxy-${name}`, match: { path: `/q/${name}/*` }, action: { type: 'proxy' as const, upstream: name, path: '/{params.*}' } })),
      {
        id: 'agg',
        match: { path: '/agg' },
        action: { type: 'aggregate', calls: calls.map((c) => ({ name: c.name, upstream: c.upstream, path: `/${c.name}`, required: c.required ?? true, group: c.name })) },
      },
    ],
  })
}

const counts = async (instances: Instance[]) => Promise.all(instances.map(async (i) => (await stats(i)).count))

describe('aggregate calls retry and fail over like proxy routes', () => {
  it('a pool with one target answering 503: every call is retried on the other target, as proxied requests are', async () => {
    const [bad, good] = await spawn(2)
    await setMode(bad!, 'fail', { status: 503 })
    const gw = gateway({ pool: pool([bad!, good!], { retries: { attempts: 1, ...RETRIES } }) }, [
      { name: 'a', upstream: 'pool' },
      { name: 'b', upstream: 'pool' },
      { name: 'c', upstream: 'pool' },
      { name: 'd', upstream: 'pool' },
    ])
    const res = await gw.fetch('/agg')
    expect(res.status).toBe(200)
    expect(res.headers.get('gateway-aggregate')).toBe('complete')
    const body = (await res.json()) as Record<string, { instance: string; path: string }>
    expect(Object.values(body).map((r) => r.instance)).toEqual([good!.id, good!.id, good!.id, good!.id])
    const [badAfterAgg, goodAfterAgg] = await counts([bad!, good!])
    expect(goodAfterAgg).toBe(4)
    // Round robin sends half of the first tries to the failing target; each is retried once.
    expect(badAfterAgg).toBe(2)
    const calls = gw.logs[0]!.calls as { call: string; tries: number; retried?: number; status: number }[]
    expect(calls.map((c) => c.tries).sort()).toEqual([1, 1, 2, 2])
    expect(calls.every((c) => c.status === 200)).toBe(true)

    // Four proxied requests to the same upstream: the same tries.
    for (let i = 0; i < 4; i++) {
      const proxied = await gw.fetch('/q/pool/x')
      expect(proxied.status).toBe(200)
      expect(proxied.headers.get('x-instance')).toBe(good!.id)
      await proxied.body?.cancel()
    }
    expect(await counts([bad!, good!])).toEqual([badAfterAgg! + 2, goodAfterAgg! + 4])
  })

  it('a hanging target: the call fails over within its time, as a proxied request does (per-try timeout, not the whole call)', async () => {
    const [hung, good] = await spawn(2)
    await setMode(hung!, 'hang')
    const upstream = pool([hung!, good!], { retries: { attempts: 1, ...RETRIES }, timeouts: { headers: 300 } })
    const gw = gateway({ pool: upstream }, [
      { name: 'a', upstream: 'pool' },
      { name: 'b', upstream: 'pool' },
    ])
    const res = await gw.fetch('/agg')
    expect(res.status).toBe(200)
    expect(res.headers.get('gateway-aggregate')).toBe('complete')
    const body = (await res.json()) as Record<string, { instance: string }>
    expect(body.a!.instance).toBe(good!.id)
    expect(body.b!.instance).toBe(good!.id)
    const calls = gw.logs[0]!.calls as { tries: number }[]
    expect(calls.map((c) => c.tries).sort()).toEqual([1, 2])
    // The same through the proxy route: two requests, both answered by the live target.
    const statuses = []
    for (let i = 0; i < 2; i++) {
      const proxied = await gw.fetch('/q/pool/x')
      statuses.push(`${proxied.status} ${proxied.headers.get('x-instance')}`)
      await proxied.body?.cancel()
    }
    expect(statuses).toEqual([`200 ${good!.id}`, `200 ${good!.id}`])
    expect((await stats(hung!)).count).toBe(2)
    await setMode(hung!, 'up')
  })

  it('retries a flaky single target up to `attempts`; when they run out, the required call fails with the status, after as many tries as the proxy makes', async () => {
    const [flaky] = await spawn(1)
    const gw = gateway({ flaky: pool([flaky!], { retries: { attempts: 2, ...RETRIES } }) }, [{ name: 'only', upstream: 'flaky' }])
    // Two failures, then up: the third try answers.
    await setMode(flaky!, 'fail', { status: 502, times: 2 })
    const res = await gw.fetch('/agg')
    expect(res.status).toBe(200)
    expect(((await res.json()) as { only: { instance: string } }).only.instance).toBe(flaky!.id)
    expect((await stats(flaky!)).count).toBe(3)
    await setMode(flaky!, 'fail', { status: 502, times: 2 })
    expect((await gw.fetch('/q/flaky/x')).status).toBe(200)
    expect((await stats(flaky!)).count).toBe(6)

    // Failing for good: 1 + 2 tries each, then the aggregate names the call; the proxy passes the status on.
    await setMode(flaky!, 'fail', { status: 502 })
    const failed = await gw.fetch('/agg')
    expect(failed.status).toBe(502)
    expect(await failed.json()).toMatchObject({ code: 'ERR_UPSTREAM_BAD_RESPONSE', call: 'only', reason: 'status', upstreamStatus: 502 } satisfies Partial<Problem>)
    expect((await stats(flaky!)).count).toBe(9)
    const proxied = await gw.fetch('/q/flaky/x')
    expect(proxied.status).toBe(502)
    await proxied.body?.cancel()
    expect((await stats(flaky!)).count).toBe(12)
  })
})

describe('aggregate calls and circuit breakers', () => {
  it('an open breaker fails the call fast, without touching the target: an optional call is a partial error, a required one a 503 like the proxy', async () => {
    const [solid, broken] = await spawn(2)
    await setMode(broken!, 'fail', { status: 500 })
    const breaker = { failures: 2, openMs: 60_000, whenOpen: 'fail-fast' as const }
    const gw = gateway({ solid: pool([solid!]), broken: pool([broken!], { circuitBreaker: breaker }) }, [
      { name: 'main', upstream: 'solid' },
      { name: 'extra', upstream: 'broken', required: false },
    ])
    // Two failures reach the target and open its circuit (one through the aggregate, one proxied: one breaker).
    const first = await gw.fetch('/agg')
    expect(first.headers.get('gateway-aggregate')).toBe('partial')
    expect(((await first.json()) as { errors: unknown[] }).errors).toEqual([{ call: 'extra', error: 'status', status: 500 }])
    const proxied = await gw.fetch('/q/broken/x')
    expect(proxied.status).toBe(500)
    await proxied.body?.cancel()
    expect((await stats(broken!)).count).toBe(2)

    const res = await gw.fetch('/agg')
    expect(res.status).toBe(200)
    expect(res.headers.get('gateway-aggregate')).toBe('partial')
    expect(res.headers.get('cache-control')).toBe('no-store')
    const body = (await res.json()) as { main: { instance: string }; errors: { call: string; error: string; retryAfter?: number }[] }
    expect(body.main.instance).toBe(solid!.id)
    expect(body.errors).toEqual([{ call: 'extra', error: 'unavailable', retryAfter: 60 }])
    const proxiedOpen = await gw.fetch('/q/broken/x')
    expect(proxiedOpen.status).toBe(503)
    expect(((await proxiedOpen.json()) as Problem).code).toBe('ERR_CIRCUIT_OPEN')
    // Neither touched the target.
    expect((await stats(broken!)).count).toBe(2)
  })

  it('a required call to an upstream whose breaker is open: 503 problem with Retry-After, the target untouched', async () => {
    const [broken] = await spawn(1)
    await setMode(broken!, 'fail', { status: 503 })
    const gw = gateway({ broken: pool([broken!], { circuitBreaker: { failures: 1, openMs: 30_000 } }) }, [{ name: 'only', upstream: 'broken' }])
    const tripped = await gw.fetch('/agg')
    expect(tripped.status).toBe(502)
    expect(await tripped.json()).toMatchObject({ call: 'only', reason: 'status', upstreamStatus: 503 })
    const res = await gw.fetch('/agg')
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('30')
    expect(await res.json()).toMatchObject({ code: 'ERR_UPSTREAM_UNAVAILABLE', call: 'only', reason: 'unavailable' })
    expect((await stats(broken!)).count).toBe(1)
  })
})
