/**
 * `actionCost`: an aggregation's calls carry a rate-limit cost (`cost`, `costPath`), and the
 * `rate-limit` policy in front of it charges their sum after the response, in real RateLimiter
 * objects, for calls the real test origin answered.
 */
import { describe, expect, it } from 'vitest'
import { policyGateway } from '../support/gateway'
import { configProblems } from '../support/config'
import { manualRuntime } from '../support/runtime'
import { freshIp, used } from './helpers'

const LIMIT = { name: 'calls', limit: 100, window: 60 }
const ID = 'route:r/calls'
const from = (ip: string) => ({ headers: { 'cf-connecting-ip': ip } })

/** A gateway whose route `r` runs an aggregation of `calls` behind `rate-limit` with `actionCost`. */
const aggregateGateway = (calls: Record<string, unknown>[], options: Record<string, unknown> = {}) =>
  policyGateway('rate-limit', { actionCost: true, limits: [LIMIT], ...options }, { action: { type: 'aggregate', calls } as never }, { runtime: manualRuntime() })

describe('actionCost: what an aggregation\'s calls cost', () => {
  for (const mode of ['lease', 'exact'] as const) {
    it(`mode "${mode}": an aggregation fanning out to 5 paid calls charges 5`, async () => {
      const calls = ['a', 'b', 'c', 'd', 'e'].map((name) => ({ name, upstream: 'origin', path: `/echo/${name}`, cost: 1 }))
      const gw = aggregateGateway(calls, { mode })
      const ip = freshIp()
      const res = await gw.fetch('/agg', from(ip))
      expect(res.status).toBe(200)
      expect(Object.keys((await res.json()) as object)).toEqual(expect.arrayContaining(['method', 'path']))
      expect(await used(`ip=${ip}`, ID)).toBe(5)
    })
  }

  it('a call with costPath costs what its answer reports; a call without any cost costs nothing', async () => {
    const gw = aggregateGateway([
      { name: 'llm', upstream: 'origin', path: '/json', query: { value: '{query.answer}' }, costPath: 'usage.total_tokens', cost: 1 },
      { name: 'lookup', upstream: 'origin', path: '/echo/lookup', cost: 2 },
      { name: 'free', upstream: 'origin', path: '/echo/free' },
    ])
    const [a, b] = [freshIp(), freshIp()]
    const answer = encodeURIComponent(JSON.stringify({ usage: { total_tokens: 40 } }))
    expect((await gw.fetch(`/agg?answer=${answer}`, from(a))).status).toBe(200)
    expect(await used(`ip=${a}`, ID)).toBe(42)
    // No whole number at the path: the call costs its `cost`.
    const none = encodeURIComponent(JSON.stringify({ usage: {} }))
    expect((await gw.fetch(`/agg?answer=${none}`, from(b))).status).toBe(200)
    expect(await used(`ip=${b}`, ID)).toBe(3)
  })

  it('an answered call costs even when it failed; a call never sent costs nothing; the cost can put the key in debt', async () => {
    const gw = aggregateGateway(
      [
        { name: 'broken', upstream: 'origin', path: '/status/500', required: false, cost: 3 },
        { name: 'after', upstream: 'origin', path: '/echo/{broken.body.id}', required: false, cost: 7 },
        { name: 'big', upstream: 'origin', path: '/echo/big', cost: 60 },
      ],
      { mode: 'exact' },
    )
    const ip = freshIp()
    const first = await gw.fetch('/agg', from(ip))
    expect(first.status).toBe(200)
    expect(first.headers.get('gateway-aggregate')).toBe('partial')
    expect(await used(`ip=${ip}`, ID)).toBe(63)
    // 63 + 63 = 126 of 100: admitted on its 1 unit, then in debt.
    expect((await gw.fetch('/agg', from(ip))).status).toBe(200)
    expect(await used(`ip=${ip}`, ID)).toBe(126)
    expect((await gw.fetch('/agg', from(ip))).status).toBe(429)
  })

  it('refuses actionCost beside another source of cost, or on a route whose action reports none, naming the field', () => {
    const problems = (options: Record<string, unknown>, action: Record<string, unknown> = { type: 'aggregate', calls: [{ name: 'a', upstream: 'u', path: '/', cost: 1 }] }) =>
      configProblems({
        upstreams: { u: { url: 'http://127.0.0.1:9' } },
        routes: [{ id: 'r', match: { path: '/' }, policies: [{ type: 'rate-limit', actionCost: true, limits: [LIMIT], ...options }], action }],
      } as never)
    expect(problems({})).toEqual([])
    expect(problems({ cost: 2 })).toEqual(['routes[0].policies[0].actionCost: give one source of cost: "actionCost" (what the action reports) or "cost", "costHeader", "costPath", not several'])
    expect(problems({}, { type: 'respond' })).toEqual(['routes[0].policies[0].actionCost: the route\'s action reports no cost: only an "aggregate" action whose calls have a "cost" or "costPath" does'])
  })
})
