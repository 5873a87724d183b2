import { describe, expect, it } from 'vitest'
import { testGateway } from '../support/gateway'
import { answers, controlClock, poolGateway, poolRoutes, setMode, spawn, stats, tally, who } from './fleet'


describe('failover', () => {
  it('a target killed mid-test is ejected, traffic fails over with zero client errors, and it comes back after its cool-off', async () => {
    const clock = controlClock()
    const [a, b, c] = await spawn(3)
    const gw = poolGateway(
      {
        targets: [a, b, c].map((i) => ({ url: i!.url })),
        passive: { failures: 2, ejectMs: 10_000 },
        retries: { attempts: 2, backoff: { base: 1, max: 2 }, budget: { minRetries: 10 } },
      },
      clock,
    )
    const before = await answers(gw, 9)
    expect(tally(before)).toEqual({ [a!.id]: 3, [b!.id]: 3, [c!.id]: 3 })

    await setMode(b!, 'down')
    const during = await answers(gw, 30)
    expect(during.filter((w) => w.startsWith('status:'))).toEqual([]) // zero client errors
    expect(new Set(during)).toEqual(new Set([a!.id, c!.id]))
    // Ejected after two failed tries: the rest of the requests never went to it.
    const retriedTries = gw.logs.slice(9).filter((l) => (l.upstream?.tries ?? 1) > 1)
    expect(retriedTries.length).toBe(2)

    await setMode(b!, 'up')
    expect(new Set(await Promise.all(Array.from({ length: 6 }, async () => who(await gw.fetch('/x')))))).not.toContain(b!.id)
    await clock.advance(10_001) // cool-off over
    const after = await answers(gw, 9)
    expect(after).toContain(b!.id)
  })

  it('a target failing again is ejected for longer each time (cool-off doubles)', async () => {
    const clock = controlClock()
    const [a, b] = await spawn(2)
    const gw = poolGateway({ targets: [{ url: a!.url }, { url: b!.url }], passive: { failures: 1, ejectMs: 1_000, maxEjectMs: 3_000, statuses: [500] } }, clock)
    await setMode(b!, 'fail', { status: 500 })
    const hitB = async (n: number) => {
      const seen: string[] = []
      for (let i = 0; i < n; i++) {
        const res = await gw.fetch('/x')
        seen.push(res.status === 500 ? b!.id : await who(res))
      }
      return seen.filter((w) => w === b!.id).length
    }
    expect(await hitB(4)).toBe(1) // ejected on its first 500 (1 s)
    await clock.advance(1_001)
    expect(await hitB(4)).toBe(1) // back, fails, ejected for 2 s
    await clock.advance(1_001)
    expect(await hitB(4)).toBe(0) // still out
    await clock.advance(1_000)
    expect(await hitB(4)).toBe(1) // back, fails, ejected for 3 s (the cap, not 4 s)
    await clock.advance(3_001)
    await setMode(b!, 'up')
    expect(await hitB(6)).toBeGreaterThan(0)
  })

  it('answers 503 problem+json with Retry-After when no target is healthy', async () => {
    const clock = controlClock()
    const [a, b] = await spawn(2)
    const gw = poolGateway({ targets: [{ url: a!.url }, { url: b!.url }], passive: { failures: 1, ejectMs: 20_000 } }, clock)
    await setMode(a!, 'down')
    await setMode(b!, 'down')
    expect((await gw.fetch('/x')).status).toBe(502)
    expect((await gw.fetch('/x')).status).toBe(502)
    await clock.advance(4_500)
    const res = await gw.fetch('/x')
    expect(res.status).toBe(503)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(res.headers.get('retry-after')).toBe('16')
    const body = (await res.json()) as { code: string; detail: string }
    expect(body.code).toBe('ERR_UPSTREAM_UNAVAILABLE')
    expect(body.detail).not.toContain('127.0.0.1')
    await setMode(a!, 'up')
    await setMode(b!, 'up')
  })

  it('uses a fallback upstream, or a fixed response, when the pool has no healthy target', async () => {
    const [a, spare] = await spawn(2)
    await setMode(a!, 'down')
    const gw = testGateway({
      upstreams: {
        pool: { targets: [{ url: a!.url }], fallback: { upstream: 'spare' } },
        spare: { url: spare!.url },
        fixed: { url: a!.url, fallback: { status: 200, body: { degraded: true }, headers: { 'x-degraded': '1' } } },
      },
      routes: [
        { id: 'fixed', match: { path: '/fixed' }, action: { type: 'proxy', upstream: 'fixed' } },
        { id: 'post', match: { path: '/post' }, action: { type: 'proxy', upstream: 'pool' } },
        ...poolRoutes(),
      ],
    })
    const res = await gw.fetch('/x')
    expect(res.status).toBe(200)
    expect(await who(res)).toBe(spare!.id)
    expect(gw.logs.at(-1)?.upstream?.fallback).toBe('spare')
    const posted = await gw.fetch('/post', { method: 'POST', body: 'hello', headers: { 'content-length': '5' } })
    expect(((await posted.json()) as { body: string }).body).toBe('hello') // the body was kept for the fallback
    const fixed = await gw.fetch('/fixed')
    expect(fixed.status).toBe(200)
    expect(fixed.headers.get('x-degraded')).toBe('1')
    expect(await fixed.json()).toEqual({ degraded: true })
    await setMode(a!, 'up')
  })
})

describe('circuit breaker, end to end', () => {
  it('opens after consecutive failures, fails fast without touching the target, half-opens, then closes', async () => {
    const clock = controlClock()
    const [a] = await spawn(1)
    const gw = poolGateway({ targets: [{ url: a!.url }], circuitBreaker: { failures: 3, openMs: 5_000, whenOpen: 'fail-fast' } }, clock)
    await setMode(a!, 'fail', { status: 503 })
    for (let i = 0; i < 3; i++) expect((await gw.fetch('/x')).status).toBe(503)
    const seen = (await stats(a!)).count
    const open = await gw.fetch('/x')
    expect(open.status).toBe(503)
    expect(open.headers.get('retry-after')).toBe('5')
    expect(((await open.json()) as { code: string }).code).toBe('ERR_CIRCUIT_OPEN')
    expect((await stats(a!)).count).toBe(seen) // failed fast: the target was not touched
    await clock.advance(5_000)
    await setMode(a!, 'up')
    expect((await gw.fetch('/x')).status).toBe(200) // the half-open probe passes: closed
    for (let i = 0; i < 3; i++) expect((await gw.fetch('/x')).status).toBe(200)
    expect((await stats(a!)).count).toBe(seen + 4)
  })

  it('with failover, an open circuit sends traffic to the other targets', async () => {
    const clock = controlClock()
    const [a, b] = await spawn(2)
    const gw = poolGateway({ targets: [{ url: a!.url }, { url: b!.url }], circuitBreaker: { failures: 2, openMs: 5_000 } }, clock)
    await setMode(a!, 'fail', { status: 500 })
    for (let i = 0; i < 4; i++) await gw.fetch('/x')
    const next = await answers(gw, 6)
    expect(new Set(next)).toEqual(new Set([b!.id]))
    await setMode(a!, 'up')
  })
})
