/**
 * Deadline vs queueing: calls run at most `maxInFlight` at once (and in production at most 6 wait
 * for headers at once), so many calls run in waves. Validation says when the worst-case waves end
 * past the deadline, naming the call; at run time a call still queued at the deadline fails as
 * `timeout` and is logged as `queued`.
 */
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/parse'
import { worstCaseWaves } from '../../src/aggregate/plan'
import { newTag, originStats, testGateway } from '../support/gateway'
import { manualRuntime, pollUntil } from '../support/runtime'
import { aggregateConfig, jsonCall, type CallInput } from './helpers'

const calls = (n: number, timeout = 1_000): CallInput[] => Array.from({ length: n }, (_, i) => ({ name: `c${i}`, upstream: 'origin', path: `/echo/${i}`, timeout }))

function notices(config: unknown): string[] {
  const result = parseConfig(config)
  if (!result.ok) throw new Error(result.problems.join('\n'))
  return result.notices
}

describe('aggregate: queueing at check time', () => {
  it('the worst case: 20 calls of 1 s on 6 slots end in four waves', () => {
    const { start, end } = worstCaseWaves(Array.from({ length: 20 }, () => []), new Array(20).fill(1_000), [...Array(20).keys()], 6)
    expect(start.slice(0, 6)).toEqual(new Array(6).fill(0))
    expect([start[6], start[12], start[18], end[19]]).toEqual([1_000, 2_000, 3_000, 4_000])
  })

  it('a chain waits for its input, then queues behind what is already running', () => {
    // a (1 s) -> b; c, d, e (3 s each) fill the other slots of 3.
    const deps = [[], [0], [], [], []]
    const { start } = worstCaseWaves(deps, [1_000, 500, 3_000, 3_000, 3_000], [0, 2, 3, 4, 1], 3)
    expect(start).toEqual([0, 3_000, 0, 0, 1_000])
  })

  it('notices (the config stays valid) when waves end past the deadline, naming the first call that may not be sent', () => {
    const config = aggregateConfig(calls(20), {}, { deadline: 3_500 })
    expect(notices(config)).toEqual([
      'routes[0].deadline: 20 calls run at most 6 at once (maxInFlight 6): in the worst case call "c18" waits in the queue until 3000 ms and ends at 4000 ms, past the deadline of 3500 ms; 2 call(s) may fail as "timeout" without being sent. Raise the deadline, lower the call timeouts, or chain fewer calls behind each other',
    ])
    expect(notices(aggregateConfig(calls(20), {}, { deadline: 4_000 }))).toEqual([])
  })

  it('counts production\'s 6 connections whatever maxInFlight says, and the implicit deadline when the route sets none', () => {
    expect(notices(aggregateConfig(calls(20), { maxInFlight: 20 }, { deadline: 3_500 }))[0]).toContain('at most 6 at once (maxInFlight 20, but production lets 6 wait for headers at once)')
    expect(notices(aggregateConfig(calls(7)))[0]).toContain('call "c6" waits in the queue until 1000 ms and ends at 2000 ms, past the run\'s 1000 ms (the longest chain of call timeouts; the route sets no deadline)')
    expect(notices(aggregateConfig(calls(6)))).toEqual([])
  })
})

describe('aggregate: queueing at run time', () => {
  it('a call still queued at the deadline fails as timeout, logged as queued', async () => {
    const tag = newTag()
    const clock = manualRuntime()
    const hang: CallInput = { name: 'slow', upstream: 'origin', path: '/hang', required: false, timeout: 1_000 }
    const queued: CallInput = { name: 'queued', upstream: 'origin', path: '/echo/q', required: false, timeout: 1_000 }
    const ok = jsonCall('ok', { ok: true }, { timeout: 1_000 })
    const gw = testGateway(aggregateConfig([ok, hang, queued], { maxInFlight: 1 }, { deadline: 1_000 }), {}, { runtime: clock })
    const answer = gw.fetch('/agg/42', { headers: { 'x-test-tag': tag } })
    await pollUntil(() => originStats(tag), (s) => s.inFlight === 1 && s.count === 2)
    await clock.advance(1_000)
    const res = await answer
    expect(await res.json()).toEqual({ ok: true, errors: [{ call: 'slow', error: 'timeout' }, { call: 'queued', error: 'timeout' }] })
    expect((await originStats(tag)).count).toBe(2)
    const entries = gw.logs.at(-1)!.calls as Record<string, unknown>[]
    expect(entries.find((c) => c.call === 'queued')).toMatchObject({ outcome: 'timeout', error: 'queued', durationMs: 1_000 })
    expect(entries.find((c) => c.call === 'slow')).toMatchObject({ name: 'origin', outcome: 'timeout' })
  })
})
