/**
 * A hedged aggregation call (`hedge` on a call): its slow first try is hedged to the pool's other
 * target as a proxy route's is, on a clock the test moves (the call's timers, the header timeout
 * and the hedge timer are all the runtime's).
 */
import { describe, expect, it } from 'vitest'
import { manualRuntime, pollUntil } from '../support/runtime'
import { testGateway } from '../support/gateway'
import { setMode, spawn, stats, type Instance } from '../upstream/fleet'

describe('hedged aggregation calls', () => {
  it('a slow call is hedged to another target and the merged answer has the hedge\'s body', async () => {
    const clock = manualRuntime()
    const [a, b] = (await spawn(2)) as [Instance, Instance]
    await setMode(a, 'hang', { times: 1 })
    const gw = testGateway(
      {
        upstreams: { pool: { targets: [{ url: a.url }, { url: b.url }], timeouts: { headers: 1_000 } } },
        routes: [
          {
            id: 'agg',
            match: { path: '/agg' },
            action: { type: 'aggregate', calls: [{ name: 'item', upstream: 'pool', path: '/items/1', hedge: { after: 50, max: 1 } }] },
          },
        ],
      },
      {},
      { runtime: clock },
    )
    const pending = gw.fetch('/agg')
    expect((await pollUntil(() => stats(a), (s) => s.count === 1)).count).toBe(1)
    // The run's deadline, the call's own clock, the try's header timeout and the hedge timer.
    await clock.until(() => clock.pendingTimers() === 4)
    expect(clock.nextTimerIn()).toBe(50)
    await clock.advance(50)
    const res = await pending
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ instance: b.id, method: 'GET', path: '/items/1', body: '' })
    expect((gw.logs[0]!.calls as unknown[])[0]).toMatchObject({ call: 'item', outcome: 'ok', tries: 2, hedges: 1, hedgeWon: true, status: 200 })
    expect((await pollUntil(() => stats(a), (s) => s.abandoned === 1)).abandoned).toBe(1)
  })
})
