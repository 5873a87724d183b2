/** Per-call caching (`cache: { ttl, key }`) through the Cache API, against the real test origin. */
import { describe, expect, it } from 'vitest'
import { newTag, originStats, testGateway } from '../helpers'
import { aggregateConfig, type CallInput } from './helpers'

async function twice(tag: string, calls: CallInput[], headers: Record<string, string>[] = [{}, {}]) {
  const gw = testGateway(aggregateConfig(calls))
  const bodies = []
  for (const extra of headers) {
    const res = await gw.fetch('/agg/42', { headers: { 'x-test-tag': tag, ...extra } })
    expect(res.status).toBe(200)
    bodies.push((await res.json()) as Record<string, any>)
  }
  return { bodies, stats: await originStats(tag), logs: gw.logs }
}

describe('aggregate: per-call cache', () => {
  it('reuses a cached call, and the cached body feeds dependants and shaping alike', async () => {
    const tag = newTag()
    const calls: CallInput[] = [
      { name: 'a', upstream: 'origin', path: `/echo/cached/${tag}`, query: { v: '1' }, cache: { ttl: 60 }, select: 'query', group: 'a' },
      { name: 'b', upstream: 'origin', path: '/echo/b/{a.body.query.v}', group: 'b' },
    ]
    const { bodies, stats, logs } = await twice(tag, calls)
    expect(bodies[1]!.a).toEqual(bodies[0]!.a)
    expect(bodies[0]!.a).toEqual({ v: '1' })
    expect(bodies[1]!.b.path).toBe('/echo/b/1')
    // Two requests: the cached call went to the origin once, its dependant twice.
    expect(stats.count).toBe(3)
    expect((logs[1]!.calls as { call: string; cache?: string }[]).find((l) => l.call === 'a')?.cache).toBe('HIT')
  })

  it('keys by the rendered key template', async () => {
    const tag = newTag()
    const calls: CallInput[] = [{ name: 'a', upstream: 'origin', path: `/echo/keyed/${tag}`, cache: { ttl: 60, key: '{headers.x-user}' }, select: 'headers.x-user', group: 'who' }]
    const { bodies, stats } = await twice(tag, calls, [{ 'x-user': 'ann' }, { 'x-user': 'bob' }, { 'x-user': 'ann' }])
    expect(bodies.map((b) => b.who)).toEqual(['ann', 'bob', 'ann'])
    expect(stats.count).toBe(2)
  })

  it('does not store what the origin marks private, nor share a call carrying Authorization without a key', async () => {
    const tag = newTag()
    const { stats } = await twice(tag, [{ name: 'a', upstream: 'origin', path: `/echo/private/${tag}`, query: { cc: 'private, max-age=60' }, cache: { ttl: 60 } }])
    expect(stats.count).toBe(2)
    const tag2 = newTag()
    const { stats: stats2 } = await twice(tag2, [{ name: 'a', upstream: 'origin', path: `/echo/auth/${tag2}`, cache: { ttl: 60 } }], [
      { authorization: 'Bearer one' },
      { authorization: 'Bearer two' },
    ])
    expect(stats2.count).toBe(2)
  })
})
