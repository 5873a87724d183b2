/**
 * Hedged requests (`hedge` on a proxy route) against real origins of the fleet, on a clock the test
 * moves: the hedge timer and every header timeout are the runtime's, so nothing here waits for
 * real time. A `hang` instance never answers until the gateway gives its try up.
 */
import { describe, expect, it } from 'vitest'
import { manualRuntime, pollUntil, stoppedClock, waitFor, type ManualRuntime } from '../support/runtime'
import { testGateway, type TestGateway } from '../support/gateway'
import { servedGateway } from '../support/served'
import type { GatewayConfigInput } from '../../src/config/schema'
import { recordOf } from '../../src/observability/record'
import { setMode, spawn, stats, who, type Instance } from './fleet'

type UpstreamInput = NonNullable<GatewayConfigInput['upstreams']>[string]

const HEDGE = { after: 50, max: 1 }

/** A gateway on `clock` proxying every path to `pool`, hedged as `hedge` says; header timeout 1 s. */
function hedgedGateway(clock: ManualRuntime, pool: Partial<UpstreamInput> & Pick<UpstreamInput, 'targets' | 'url'>, hedge: { after: number; max?: number } = HEDGE): TestGateway {
  const upstream = { timeouts: { headers: 1_000 }, ...pool } as UpstreamInput
  return testGateway({ upstreams: { pool: upstream }, routes: [{ id: 'all', match: { path: '/*' }, action: { type: 'proxy', upstream: 'pool', hedge } }] }, {}, { runtime: clock })
}

const targetsOf = (instances: Instance[]) => instances.map((i) => ({ url: i.url }))

/** Resolves once `instance` has received `count` requests (real I/O: polled, bounded). */
async function received(instance: Instance, count: number): Promise<void> {
  expect((await pollUntil(() => stats(instance), (s) => s.count >= count)).count).toBe(count)
}

/** Requests the whole fleet received. */
async function total(instances: Instance[]): Promise<number> {
  return (await Promise.all(instances.map(stats))).reduce((sum, s) => sum + s.count, 0)
}

/** Lets the first try's header timeout pass: the request it left hanging ends 504. */
async function timesOut(clock: ManualRuntime, pending: Promise<Response>): Promise<void> {
  await clock.advance(1_000)
  const res = await pending
  await res.body?.cancel()
  expect(res.status).toBe(504)
}

describe('hedged requests', () => {
  it('a slow first try is hedged to the other target, whose answer wins; the first is aborted', async () => {
    const clock = manualRuntime()
    const fleet = await spawn(2)
    const [a, b] = fleet as [Instance, Instance]
    await setMode(a, 'hang', { times: 1 })
    const gw = hedgedGateway(clock, { targets: targetsOf(fleet) })
    const pending = gw.fetch('/x')
    await received(a, 1)
    // The first try's header timeout and the hedge timer.
    await clock.until(() => clock.pendingTimers() === 2)
    expect(clock.nextTimerIn()).toBe(50)
    await clock.advance(50)
    expect(await who(await pending)).toBe(b.id)
    expect(gw.logs[0]!.upstream).toMatchObject({ tries: 2, hedges: 1, hedgeWon: true, status: 200, target: new URL(b.url).origin })
    expect(gw.logs[0]!.upstream!.error).toBeUndefined()
    // The metrics count it: one hedge sent, and it won.
    expect(recordOf(gw.logs[0]!, { at: 0, route: 'all', consumer: undefined, method: 'GET', status: 200 })).toMatchObject({ hedges: 1, hedgeWins: 1 })
    // The loser's connection is closed at once, not left to its timeout.
    expect((await pollUntil(() => stats(a), (s) => s.abandoned === 1)).abandoned).toBe(1)
    expect(clock.pendingTimers()).toBe(0)
  })

  it('a first try that answers in time sends no hedge', async () => {
    const clock = manualRuntime()
    const fleet = await spawn(2)
    const [a, b] = fleet as [Instance, Instance]
    const gw = hedgedGateway(clock, { targets: targetsOf(fleet) })
    expect(await who(await gw.fetch('/x'))).toBe(a.id)
    // The hedge timer went with the answer: moving the clock past it sends nothing.
    await clock.advance(500)
    expect((await stats(b)).count).toBe(0)
    expect(gw.logs[0]!.upstream).toMatchObject({ tries: 1, status: 200 })
    expect(gw.logs[0]!.upstream!.hedges).toBeUndefined()
  })

  it('a single origin is hedged to itself', async () => {
    const clock = manualRuntime()
    const [a] = (await spawn(1)) as [Instance]
    await setMode(a, 'hang', { times: 1 })
    const gw = hedgedGateway(clock, { url: a.url })
    const pending = gw.fetch('/x')
    await received(a, 1)
    await clock.until(() => clock.pendingTimers() === 2)
    await clock.advance(50)
    expect(await who(await pending)).toBe(a.id)
    expect(gw.logs[0]!.upstream).toMatchObject({ tries: 2, hedges: 1, hedgeWon: true })
    expect((await pollUntil(() => stats(a), (s) => s.abandoned === 1)).abandoned).toBe(1)
  })

  it('a POST is never hedged', async () => {
    const clock = manualRuntime()
    const fleet = await spawn(2)
    const [a, b] = fleet as [Instance, Instance]
    await setMode(a, 'hang', { times: 1 })
    const gw = hedgedGateway(clock, { targets: targetsOf(fleet) })
    const pending = gw.fetch('/x', { method: 'POST', body: 'order' })
    await received(a, 1)
    // Only the header timeout: no hedge timer was set.
    await clock.until(() => clock.pendingTimers() === 1)
    await clock.advance(50)
    expect((await stats(b)).count).toBe(0)
    await timesOut(clock, pending)
    expect(gw.logs[0]!.upstream).toMatchObject({ tries: 1, error: 'timeout' })
  })

  it('sends no hedge to a target whose breaker is open', async () => {
    const clock = manualRuntime()
    const fleet = await spawn(2)
    const [a, b] = fleet as [Instance, Instance]
    const gw = hedgedGateway(clock, { targets: targetsOf(fleet), circuitBreaker: { failures: 1 } })
    // Round robin: a, then b, whose 500 opens its circuit.
    await setMode(b, 'fail', { times: 1 })
    expect(await who(await gw.fetch('/x'))).toBe(a.id)
    expect((await gw.fetch('/x')).status).toBe(500)
    await setMode(a, 'hang', { times: 1 })
    const pending = gw.fetch('/x')
    await received(a, 2)
    await clock.until(() => clock.pendingTimers() === 2)
    await clock.advance(50)
    expect((await stats(b)).count).toBe(1)
    await timesOut(clock, pending)
    expect(gw.logs[2]!.upstream).toMatchObject({ tries: 1, error: 'timeout' })
  })

  it('sends no hedge to a half-open single origin: its one probe is not doubled', async () => {
    const clock = manualRuntime()
    const [a] = (await spawn(1)) as [Instance]
    const gw = hedgedGateway(clock, { url: a.url, circuitBreaker: { failures: 1, openMs: 5_000 } })
    await setMode(a, 'fail', { times: 1 })
    expect((await gw.fetch('/x')).status).toBe(500)
    await clock.advance(5_000)
    await setMode(a, 'hang', { times: 1 })
    const pending = gw.fetch('/x')
    await received(a, 2)
    await clock.until(() => clock.pendingTimers() === 2)
    await clock.advance(50)
    expect((await stats(a)).count).toBe(2)
    await timesOut(clock, pending)
  })

  it('takes each hedge from the retry budget, and sends none once it is spent', async () => {
    const clock = manualRuntime()
    const fleet = await spawn(2)
    const [a, b] = fleet as [Instance, Instance]
    const gw = hedgedGateway(clock, { targets: targetsOf(fleet), retries: { attempts: 0, budget: { percent: 0, minRetries: 1 } } })
    await setMode(a, 'hang', { times: 1 })
    const first = gw.fetch('/x')
    await received(a, 1)
    await clock.until(() => clock.pendingTimers() === 2)
    await clock.advance(50)
    expect(await who(await first)).toBe(b.id)
    // The budget's one retry is spent: the next slow try is waited for alone.
    await setMode(a, 'hang', { times: 1 })
    await setMode(b, 'hang', { times: 1 })
    const second = gw.fetch('/x')
    expect(await pollUntil(() => total(fleet), (n) => n === 3)).toBe(3)
    await clock.until(() => clock.pendingTimers() === 2)
    await clock.advance(50)
    expect(await total(fleet)).toBe(3)
    await timesOut(clock, second)
    expect(gw.logs[1]!.upstream).toMatchObject({ tries: 1, error: 'timeout' })
  })

  it('sends up to max hedges, each after the last, and a hedge that fails does not end the race', async () => {
    const clock = manualRuntime()
    const fleet = await spawn(3)
    const [a, b, c] = fleet as [Instance, Instance, Instance]
    await setMode(a, 'hang', { times: 1 })
    await setMode(b, 'fail', { times: 1, status: 503 })
    const gw = hedgedGateway(clock, { targets: targetsOf(fleet) }, { after: 50, max: 2 })
    const pending = gw.fetch('/x')
    await received(a, 1)
    await clock.until(() => clock.pendingTimers() === 2)
    await clock.advance(50)
    // b's 503 is not a good answer: a is still out, and the second hedge goes 50 ms later.
    await received(b, 1)
    await clock.until(() => clock.pendingTimers() === 2)
    expect(clock.nextTimerIn()).toBe(50)
    await clock.advance(50)
    expect(await who(await pending)).toBe(c.id)
    expect(gw.logs[0]!.upstream).toMatchObject({ tries: 3, hedges: 2, hedgeWon: true, status: 200 })
  })

  it('a client that leaves mid-race aborts every try and gives back their least-requests counts', async () => {
    // The request runs in the pool's own worker (served), whose I/O a timer fired from the test's
    // context may not touch: this clock keeps the platform's timers (the hedge's 50 ms is real),
    // and the test waits for what the fleet sees, never for a time.
    const clock = stoppedClock()
    const fleet = await spawn(2)
    const [a, b] = fleet as [Instance, Instance]
    await setMode(a, 'hang', { times: 1 })
    await setMode(b, 'hang', { times: 1 })
    const gw = servedGateway(
      { upstreams: { pool: { targets: targetsOf(fleet), balance: 'least-requests', timeouts: { headers: 1_000 } } }, routes: [{ id: 'all', match: { path: '/*' }, action: { type: 'proxy', upstream: 'pool', hedge: HEDGE } }] },
      { runtime: clock },
    )
    const client = new AbortController()
    const answer = gw.fetch('/x', { signal: client.signal }).catch((err: unknown) => err)
    await received(a, 1)
    await received(b, 1)
    client.abort()
    expect(await answer).toBeInstanceOf(Error)
    await waitFor(() => gw.logs.length === 1)
    expect(gw.logs[0]).toMatchObject({ status: 499 })
    for (const instance of fleet) expect((await pollUntil(() => stats(instance), (s) => s.abandoned === 1)).abandoned).toBe(1)
    // Both at 0 in flight take turns; a count left behind would send every request to the other.
    const answered = []
    for (let i = 0; i < 4; i++) answered.push(await who(await gw.fetch('/x')))
    expect(new Set(answered)).toEqual(new Set([a.id, b.id]))
  })
})
