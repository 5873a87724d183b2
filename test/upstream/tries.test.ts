/**
 * What a call's tries leave behind, on the controllable fleet: the breaker slot of a try that was
 * aborted, the answer a retry could not improve on, the backoff between tries, and the upstream
 * time logged for all tries together.
 */
import { describe, expect, it } from 'vitest'
import { ORIGIN, testGateway } from '../support/gateway'
import { controlClock, poolGateway, poolRoutes, setMode, spawn, stats } from './fleet'

const fast = { base: 1, max: 2 }
type FleetBody = { instance: string }
type Problem = { code: string }

describe('a half-open probe that is aborted', () => {
  // Two ways a probe ends without an outcome: the client goes away, or a required sibling call of
  // an aggregation fails while the probe is waiting on a hung target.
  const aborts = {
    'the client disconnects': async (gw: ReturnType<typeof testGateway>) => {
      const controller = new AbortController()
      setTimeout(() => controller.abort(), 150)
      await gw.fetch('/x', { signal: controller.signal }).then((r) => r.body?.cancel(), () => {})
    },
    'a required sibling call fails': async (gw: ReturnType<typeof testGateway>) => {
      const res = await gw.fetch('/agg')
      expect(res.status).toBe(502)
      await res.body?.cancel()
    },
  }
  for (const [how, abort] of Object.entries(aborts)) {
    it(`gives its probe slot back when ${how}: once the target is up, requests pass instead of 503 ERR_CIRCUIT_OPEN forever`, async () => {
      const clock = controlClock()
      const [a] = await spawn(1)
      const gw = testGateway({
        upstreams: {
          pool: { targets: [{ url: a!.url }], circuitBreaker: { failures: 1, openMs: 1_000, whenOpen: 'fail-fast' } },
          broken: { url: `${ORIGIN}` },
        },
        routes: [
          {
            id: 'agg',
            match: { path: '/agg' },
            action: {
              type: 'aggregate',
              calls: [
                { name: 'probe', upstream: 'pool', path: '/probe', required: false },
                { name: 'sibling', upstream: 'broken', path: '/status/500?delay=150', required: true },
              ],
            },
          },
          ...poolRoutes(),
        ],
      }, {}, { runtime: clock })
      await setMode(a!, 'fail', { status: 503 })
      expect((await gw.fetch('/x')).status).toBe(503) // opens the circuit
      const open = await gw.fetch('/x')
      expect(((await open.json()) as Problem).code).toBe('ERR_CIRCUIT_OPEN')

      await clock.advance(1_000) // half-open: one probe may go
      await setMode(a!, 'hang')
      const before = (await stats(a!)).count
      await abort(gw)
      expect((await stats(a!)).count).toBe(before + 1) // the probe did go out, and was aborted

      await setMode(a!, 'up')
      await clock.advance(600_000)
      const res = await gw.fetch('/x')
      expect(res.status).toBe(200)
      expect(((await res.json()) as FleetBody).instance).toBe(a!.id)
    })
  }
})

describe('a retry that cannot be made', () => {
  it('returns the origin\'s own answer intact when no target is left to retry on', async () => {
    const clock = controlClock()
    const [a] = await spawn(1)
    // The 503 ejects the only target (passive health): the retry finds no target.
    const gw = poolGateway({ targets: [{ url: a!.url }], passive: { failures: 1 }, retries: { attempts: 2, backoff: fast } }, clock)
    await setMode(a!, 'fail', { status: 503 })
    const res = await gw.fetch('/x')
    expect(res.status).toBe(503)
    expect(res.headers.get('x-instance')).toBe(a!.id)
    expect(await res.json()).toMatchObject({ instance: a!.id, path: '/x' }) // not an empty body
    expect(gw.logs[0]!.upstream).toMatchObject({ tries: 1, status: 503 })
    expect(gw.logs[0]!.upstream!.retried).toBeUndefined()
    expect((await stats(a!)).count).toBe(1)
    await setMode(a!, 'up')
  })

  it('in fail-fast mode, a retry after the first try opened the circuit keeps the origin\'s answer, not ERR_CIRCUIT_OPEN', async () => {
    const clock = controlClock()
    const [a] = await spawn(1)
    const gw = poolGateway({ targets: [{ url: a!.url }], circuitBreaker: { failures: 1, openMs: 5_000, whenOpen: 'fail-fast' }, retries: { attempts: 2, backoff: fast } }, clock)
    await setMode(a!, 'fail', { status: 503 })
    const res = await gw.fetch('/x')
    expect(res.status).toBe(503)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(await res.json()).toMatchObject({ instance: a!.id })
    expect(gw.logs[0]!.upstream).toMatchObject({ tries: 1, status: 503 })
    expect(gw.logs[0]!.error).toBeUndefined()
    // The next request, with the circuit open, is the one answered ERR_CIRCUIT_OPEN.
    const next = await gw.fetch('/x')
    expect(((await next.json()) as Problem).code).toBe('ERR_CIRCUIT_OPEN')
    expect((await stats(a!)).count).toBe(1)
    await setMode(a!, 'up')
  })

  it('a retry skips a target whose circuit is open and goes to one that can take it', async () => {
    const clock = controlClock()
    const [a, b] = await spawn(2)
    const gw = poolGateway({ targets: [{ url: a!.url }, { url: b!.url }], circuitBreaker: { failures: 1, whenOpen: 'fail-fast' }, retries: { attempts: 2, backoff: fast } }, clock)
    await setMode(a!, 'fail', { status: 503, times: 1 })
    const res = await gw.fetch('/x') // round robin: a first, which opens its circuit; the retry goes to b
    expect(res.status).toBe(200)
    expect(((await res.json()) as FleetBody).instance).toBe(b!.id)
    expect(gw.logs[0]!.upstream).toMatchObject({ tries: 2, retried: 1 })
  })
})

describe('the backoff between tries', () => {
  it('waits the backoff delay before retrying (the second try arrives at least that much later)', async () => {
    const clock = controlClock()
    clock.setRandom(() => 0.99) // full jitter near its ceiling: a 396 ms wait before the retry
    const [a] = await spawn(1)
    const gw = poolGateway({ targets: [{ url: a!.url }], retries: { attempts: 1, backoff: { base: 400, max: 400 } } }, clock)
    await setMode(a!, 'fail', { status: 503, times: 1 })
    const res = await gw.fetch('/x')
    expect(res.status).toBe(200)
    const [first, second] = (await stats(a!)).arrivals
    // A lower bound only (a timer never fires early): the gap is at least the wait, however slow the machine.
    expect(second! - first!).toBeGreaterThanOrEqual(390)
  })
})

describe('the upstream time logged for a call', () => {
  it('runs from the first try\'s start to the last try\'s end, not just the last try', async () => {
    const [a, b] = await spawn(2)
    const gw = poolGateway({ targets: [{ url: a!.url }, { url: b!.url }], retries: { attempts: 1, backoff: fast }, timeouts: { headers: 300 } })
    await setMode(a!, 'hang', { times: 1 }) // the first try waits out its 300 ms timeout
    const res = await gw.fetch('/x')
    expect(((await res.json()) as FleetBody).instance).toBe(b!.id)
    expect(gw.logs[0]!.upstream).toMatchObject({ tries: 2, retried: 1, status: 200 })
    expect(gw.logs[0]!.upstream!.durationMs).toBeGreaterThanOrEqual(300)
    await setMode(a!, 'up')
  })
})
