import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import type { HealthChecker, HealthSpec } from '../../src/upstream/health-checker'
import { testGateway } from '../support/gateway'
import { answers, controlClock, setMode, spawn, stats, tally, who } from './fleet'
import type { Runtime } from '../../src/core/runtime'
import { manualRuntime } from '../support/runtime'

function pool(name: string, urls: string[], runtime?: Runtime) {
  return testGateway({
    gateway: { name: 'hc-test' },
    upstreams: {
      [name]: {
        targets: urls.map((url, i) => ({ url, id: `t${i}` })),
        healthCheck: { path: '/health', interval: 60_000, timeout: 1_000, healthyThreshold: 2, unhealthyThreshold: 2, cacheMs: 5_000 },
      },
    },
    routes: [{ id: 'all', match: { path: '/*' }, action: { type: 'proxy', upstream: name } }],
  }, {}, { runtime })
}

describe('active health checks (HealthChecker Durable Object)', () => {
  it('the alarm probes every target; shared state goes unhealthy and healthy by thresholds, and isolates route by it', async () => {
    const clock = controlClock()
    const name = `p-${crypto.randomUUID().slice(0, 8)}`
    const [a, b] = await spawn(2)
    const gw = pool(name, [a!.url, b!.url], clock)
    const stub = env.HEALTH_CHECKER.get(env.HEALTH_CHECKER.idFromName(`hc-test/${name}`))

    // The first request reads the state: targets start healthy, the alarm is scheduled.
    expect((await gw.fetch('/x')).status).toBe(200)
    expect(await runInDurableObject(stub, async (_obj, state) => (await state.storage.getAlarm()) !== null)).toBe(true)

    await setMode(b!, 'down')
    expect(await runDurableObjectAlarm(stub)).toBe(true)
    expect((await stub.read(await specOf(stub))).targets.t1).toMatchObject({ healthy: true, last: 'unreachable' }) // one failure < threshold
    expect(await runDurableObjectAlarm(stub)).toBe(true) // the alarm rescheduled itself
    const down = await stub.read(await specOf(stub))
    expect(down.targets.t0!.healthy).toBe(true)
    expect(down.targets.t1!.healthy).toBe(false)
    expect((await stats(a!)).health).toBe(2)

    await clock.advance(5_001) // the isolate's cached copy is stale: the next request refreshes it after answering
    await gw.fetch('/x')
    const during = await answers(gw, 6)
    expect(tally(during)).toEqual({ [a!.id]: 6 })
    expect(gw.logs.slice(2).every((l) => l.upstream?.tries === 1 && l.status === 200)).toBe(true) // no failed try at all

    await setMode(b!, 'up')
    await runDurableObjectAlarm(stub)
    expect((await stub.read(await specOf(stub))).targets.t1!.healthy).toBe(false) // one pass < healthyThreshold
    await runDurableObjectAlarm(stub)
    expect((await stub.read(await specOf(stub))).targets.t1!.healthy).toBe(true)
    await clock.advance(5_001)
    await gw.fetch('/x') // this read refreshes in the background (waitUntil) with the stale copy in hand
    const after = await answers(gw, 6)
    expect(after).toContain(b!.id)
  })

  it('a probe that times out or answers 5xx counts as failed', async () => {
    const name = `p-${crypto.randomUUID().slice(0, 8)}`
    const [a, b] = await spawn(2)
    const gw = pool(name, [a!.url, b!.url])
    await gw.fetch('/x')
    const stub = env.HEALTH_CHECKER.get(env.HEALTH_CHECKER.idFromName(`hc-test/${name}`))
    // The probes' timeout (1 s) runs on a clock the test moves: no real second passes.
    const clock = manualRuntime()
    await runInDurableObject(stub, (checker) => {
      ;(checker as HealthChecker).runtime = clock
    })
    await setMode(a!, 'hang')
    await setMode(b!, 'fail', { status: 503 })
    const alarm = runDurableObjectAlarm(stub)
    // Both probes are out; the 503 comes back, the hanging one waits for its timeout.
    await clock.until(() => clock.scheduledTimers() === 2 && clock.pendingTimers() === 1)
    // Moved from inside the object: the timeout aborts the object's own fetch, an I/O object of its context.
    await runInDurableObject(stub, () => clock.advance(1_000))
    await alarm
    const state = await stub.read(await specOf(stub))
    expect(state.targets.t0!.last).toBe('timeout')
    expect(state.targets.t1!.last).toBe(503)
    await setMode(a!, 'up')
    await setMode(b!, 'up')
  })

  it('a changed spec replaces the targets; the checker being unreachable leaves the pool on passive health', async () => {
    const name = `p-${crypto.randomUUID().slice(0, 8)}`
    const [a, b] = await spawn(2)
    await pool(name, [a!.url, b!.url]).fetch('/x')
    const stub = env.HEALTH_CHECKER.get(env.HEALTH_CHECKER.idFromName(`hc-test/${name}`))
    const spec = await specOf(stub)
    const next = await stub.read({ ...spec, targets: [spec.targets[0]!] })
    expect(Object.keys(next.targets)).toEqual(['t0'])

    const broken = testGateway(
      { upstreams: { p: { url: a!.url, healthCheck: { binding: 'BROKEN_DO' } } }, routes: [{ id: 'all', match: { path: '/*' }, action: { type: 'proxy', upstream: 'p' } }] },
      { BROKEN_DO: { idFromName: () => ({}), get: () => ({ read: () => Promise.reject(new Error('unreachable')) }) } },
    )
    expect((await broken.fetch('/x')).status).toBe(200)
  })
})

async function specOf(stub: DurableObjectStub<HealthChecker>): Promise<HealthSpec> {
  return runInDurableObject(stub, (_obj, state) => {
    const row = state.storage.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'spec'").one()
    return JSON.parse(row.v) as HealthSpec
  })
}
