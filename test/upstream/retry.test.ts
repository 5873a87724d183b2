import { describe, expect, it } from 'vitest'
import { testGateway } from '../support/gateway'
import { backoffDelay, RetryBudget } from '../../src/upstream/retry'
import { controlClock, poolGateway, poolRoutes, setMode, spawn, stats, who } from './fleet'

const fast = { base: 1, max: 2 }

describe('retries', () => {
  it('retries a GET on a configured status, up to the count, never the same target twice in a row', async () => {
    const [a, b] = await spawn(2)
    await setMode(a!, 'fail', { status: 503 })
    await setMode(b!, 'fail', { status: 503 })
    const gw = poolGateway({ targets: [{ url: a!.url }, { url: b!.url }], retries: { attempts: 3, backoff: fast } })
    const res = await gw.fetch('/x')
    expect(res.status).toBe(503) // the last answer, after 1 + 3 tries
    expect(gw.logs[0]!.upstream).toMatchObject({ tries: 4, retried: 3, status: 503 })
    const [sa, sb] = [await stats(a!), await stats(b!)]
    expect(sa.count + sb.count).toBe(4)
    expect(sa.count).toBe(2) // alternated: a b a b
    await setMode(a!, 'up')
    await setMode(b!, 'up')
  })

  it('recovers on another target after a reset connection, a hang (per-try timeout) or a 502', async () => {
    const [a, b] = await spawn(2)
    for (const [mode, status] of [['reset', 500], ['hang', 500], ['fail', 502]] as const) {
      // A fresh gateway each time, so round robin tries `a` first.
      const gw = poolGateway({ targets: [{ url: a!.url }, { url: b!.url }], retries: { attempts: 1, backoff: fast }, timeouts: { headers: 300 } })
      await setMode(a!, mode, { status, times: 1 })
      const res = await gw.fetch('/x')
      expect(res.status).toBe(200)
      expect(await who(res)).toBe(b!.id)
      expect(gw.logs[0]!.upstream).toMatchObject({ tries: 2, retried: 1 })
      await setMode(a!, 'up')
    }
  })

  it('does not retry a POST by default, and retries one (replaying its body) when configured', async () => {
    const [a, b] = await spawn(2)
    const upstreams = (methods?: 'POST'[]) => ({
      pool: { targets: [{ url: a!.url }, { url: b!.url }], retries: { attempts: 1, backoff: fast, ...(methods && { methods }) } },
    })
    await setMode(a!, 'fail', { status: 502 })
    const byDefault = testGateway({ upstreams: upstreams(), routes: poolRoutes() })
    const res = await byDefault.fetch('/x', { method: 'POST', body: 'payload', headers: { 'content-length': '7' } })
    expect(res.status).toBe(502)
    expect(byDefault.logs[0]!.upstream?.tries).toBe(1)

    const configured = testGateway({ upstreams: upstreams(['POST']), routes: poolRoutes() })
    const ok = await configured.fetch('/x', { method: 'POST', body: 'payload', headers: { 'content-length': '7' } })
    expect(ok.status).toBe(200)
    expect(((await ok.json()) as { body: string }).body).toBe('payload')
    expect((await stats(a!)).requests.map((r) => r.body)).toEqual(['payload', 'payload'])
    await setMode(a!, 'up')
  })

  it('does not retry a body too big to buffer, or one without a Content-Length', async () => {
    const [a] = await spawn(1)
    const gw = poolGateway({ targets: [{ url: a!.url }], retries: { attempts: 1, backoff: fast, methods: ['PUT'], bodyLimit: 8 } })
    await setMode(a!, 'fail', { status: 502, times: 1 })
    const big = await gw.fetch('/x', { method: 'PUT', body: 'x'.repeat(9), headers: { 'content-length': '9' } })
    expect(big.status).toBe(502)
    await setMode(a!, 'fail', { status: 502, times: 1 })
    const stream = new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode('abc')), c.close()) })
    const unsized = await gw.fetch('/x', { method: 'PUT', body: stream, duplex: 'half' } as RequestInit)
    expect(unsized.status).toBe(502)
    expect(gw.logs.map((l) => l.upstream?.tries)).toEqual([1, 1])
    await setMode(a!, 'fail', { status: 502, times: 1 })
    const small = await gw.fetch('/x', { method: 'PUT', body: 'y'.repeat(8), headers: { 'content-length': '8' } })
    expect(small.status).toBe(200) // retried on the same target: the pool has no other
    expect((await stats(a!)).requests.map((r) => r.body)).toEqual(['x'.repeat(9), 'abc', 'y'.repeat(8), 'y'.repeat(8)])
  })

  it('stops retrying when the budget is spent', async () => {
    const clock = controlClock()
    const [a] = await spawn(1)
    await setMode(a!, 'fail', { status: 503 })
    const gw = poolGateway({ targets: [{ url: a!.url }], retries: { attempts: 2, backoff: fast, budget: { percent: 20, minRetries: 2 } } }, clock)
    const tries: number[] = []
    for (let i = 0; i < 10; i++) {
      await gw.fetch('/x')
      tries.push(gw.logs.at(-1)!.upstream!.tries!)
    }
    // 10 requests allow 2 + 20% of 10 = 4 retries in the window, then none.
    expect(tries.reduce((s, t) => s + t - 1, 0)).toBe(4)
    expect(tries.slice(-3)).toEqual([1, 1, 1])
    await clock.advance(10_001) // the window has passed: retries allowed again
    await gw.fetch('/x')
    expect(gw.logs.at(-1)!.upstream!.tries).toBe(3)
    await setMode(a!, 'up')
  })

  it('caps all tries with timeouts.total', async () => {
    const [a, b] = await spawn(2)
    await setMode(a!, 'hang')
    await setMode(b!, 'hang')
    const gw = poolGateway({ targets: [{ url: a!.url }, { url: b!.url }], retries: { attempts: 5, backoff: fast }, timeouts: { headers: 150, total: 400 } })
    const res = await gw.fetch('/x')
    expect(res.status).toBe(504)
    expect(gw.logs[0]!.upstream!.tries).toBeLessThanOrEqual(3)
    await setMode(a!, 'up')
    await setMode(b!, 'up')
  })
})

describe('backoff and budget (unit)', () => {
  it('backoff is full jitter under an exponential ceiling capped at max', () => {
    const backoff = { base: 100, max: 1_000 }
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, backoff, () => 0))).toEqual([0, 0, 0, 0, 0])
    expect([1, 2, 3, 4, 5, 30].map((n) => backoffDelay(n, backoff, () => 0.9999))).toEqual([99, 199, 399, 799, 999, 999])
    expect(backoffDelay(3, backoff, () => 0.5)).toBe(200)
  })

  it('the budget allows minRetries plus a percent of requests in the window', () => {
    const clock = controlClock()
    const budget = new RetryBudget({ percent: 20, minRetries: 0, window: 1_000 }, clock)
    for (let i = 0; i < 10; i++) budget.request()
    expect([budget.tryRetry(), budget.tryRetry(), budget.tryRetry()]).toEqual([true, true, false])
    clock.move(1_100)
    expect(budget.tryRetry()).toBe(false) // the requests aged out too
    for (let i = 0; i < 5; i++) budget.request()
    expect([budget.tryRetry(), budget.tryRetry()]).toEqual([true, false])
  })
})
