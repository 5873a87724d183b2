/** The built-in aggregator: counts after a burst, merged percentiles across shards, batching, retention. */
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { MetricsAggregator } from '../../src/observability/metrics-aggregator'
import { describe, expect, it } from 'vitest'
import type { Group } from '../../src/observability/metric-groups'
import { aggregatorSink } from '../../src/observability/batcher'
import { recordOf } from '../../src/observability/record'
import { queryMetrics, type MetricsReport } from '../../src/observability/query'
import { ORIGIN, testGateway } from '../support/gateway'
import { stoppedClock } from '../support/runtime'

import { ADMIN, aggregatorNamespace, groupsOf, record } from './helpers'

const DAY = 86_400_000

const settings = (shards: number) => ({ binding: 'METRICS_AGGREGATOR', shards, retentionMinutes: 1500, flushMs: 5, flushRecords: 1000 })

describe('metrics aggregator', () => {
  it('holds the right counts after a burst of mixed traffic through the gateway', async () => {
    // The suite's files share one workerd, so one aggregator: this burst happens on a day of its own.
    const gw = testGateway({
      gateway: { metrics: { aggregator: { shards: 3, flushMs: 5 } } },
      upstreams: { origin: { url: ORIGIN } },
      routes: [
        { id: 'burst-api', match: { path: '/api/*' }, action: { type: 'proxy', upstream: 'origin', stripPrefix: '/api' } },
        { id: 'burst-static', match: { path: '/static', methods: ['GET'] }, action: { type: 'respond', body: { ok: true } } },
      ],
    }, {}, { runtime: stoppedClock(Date.now() + 97 * DAY) })
    const sent: Promise<Response>[] = []
    for (let i = 0; i < 6; i++) sent.push(gw.fetch('/api/echo/x'))
    for (let i = 0; i < 3; i++) sent.push(gw.fetch('/api/status/503'))
    for (let i = 0; i < 2; i++) sent.push(gw.fetch('/api/status/404'))
    for (let i = 0; i < 4; i++) sent.push(gw.fetch('/static'))
    sent.push(gw.fetch('/static', { method: 'POST' })) // 405: no route answered
    sent.push(gw.fetch('/nowhere')) // 404: no route
    const statuses = (await Promise.all(sent)).map((r) => r.status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(10)

    const res = await gw.fetch('/_edgeway/metrics?window=5m', { headers: ADMIN })
    expect(res.status).toBe(200)
    const data = (await res.json()) as MetricsReport
    expect(data.totals.requests).toBe(17)
    expect(data.statuses).toEqual({ '2xx': 10, '3xx': 0, '4xx': 4, '5xx': 3 })
    expect(data.totals.errors).toBe(3)
    expect(data.totals.errorRate).toBeCloseTo(3 / 17, 3)
    expect(data.totals.upstreamErrors).toBe(3)
    expect(data.totals.cacheHitRatio).toBeNull()
    const routes = Object.fromEntries(data.topRoutes.map((r) => [r.route, r.requests]))
    expect(routes).toEqual({ 'burst-api': 11, 'burst-static': 4, '(none)': 2 })
    expect(data.topRoutes[0]!.route).toBe('burst-api')
    expect(data.topRoutes[0]!.errors).toBe(3)
    expect(data.topConsumers).toEqual([{ consumer: '(anonymous)', requests: 17, errors: 3, rateLimited: 0 }])
    expect(data.totals.latencyMs.p50).toBeGreaterThan(0)
    expect(data.totals.upstreamLatencyMs.p99).not.toBeNull()
    expect(data.series.reduce((sum, s) => sum + s.requests, 0)).toBe(17)
    // The admin call itself is not counted.
    const again = (await (await gw.fetch('/_edgeway/metrics?window=1h', { headers: ADMIN })).json()) as MetricsReport
    expect(again.totals.requests).toBe(17)
  })

  it('percentiles come from histograms merged across shards', async () => {
    const ns = aggregatorNamespace()
    const at = Date.now()
    const fast = Array.from({ length: 90 }, () => record({ at, route: 'pct', durationMs: 10 }))
    const slow = Array.from({ length: 10 }, () => record({ at, route: 'pct', durationMs: 1000 }))
    await ns.get(ns.idFromName('shard-10')).ingest(groupsOf(fast), 1500)
    await ns.get(ns.idFromName('shard-11')).ingest(groupsOf(slow), 1500)
    // Shards 10 and 11 only: a 12-shard setup whose other shards are empty in this test.
    const data = await queryMetrics(ns, settings(12), '5m', at)
    const pct = data.topRoutes.find((r) => r.route === 'pct')!
    expect(pct.requests).toBe(100)
    const ten = 11.3 // upper bound of the bucket holding 10 ms
    const thousand = 1024 // upper bound of the bucket holding 1000 ms
    expect(pct.p95).toBe(thousand)
    const only = (answer: MetricsReport) => answer.topRoutes.find((r) => r.route === 'pct')
    // Each shard alone would say something else: the merge is what makes p50 fast and p95 slow.
    const fastOnly = await queryMetrics(ns, { ...settings(11) }, '5m', at) // shards 0..10: only the fast one
    expect(only(fastOnly)!.p95).toBe(ten)
    expect(data.shards).toEqual({ total: 12, failed: 0 })
  })

  it('counts consumers, cache hits and misses, rate-limited and auth failures as the other features log them', async () => {
    const ns = aggregatorNamespace()
    const sink = aggregatorSink(ns, { ...settings(1), binding: 'METRICS_AGGREGATOR', flushRecords: 1000, flushMs: 1 })
    // A day of its own: files share the aggregator's storage, and another file's `acme` requests
    // in the same 5 minutes would be counted here too.
    const at = Date.now() + 161 * DAY
    const base = { requestId: 'r', method: 'GET', path: '/p', durationMs: 3 }
    const ctx = (status: number) => ({ at, route: 'outcomes', consumer: undefined, method: 'GET', status })
    const logs: [Record<string, unknown>, number][] = [
      [{ consumer: 'acme', auth: { via: 'jwt', outcome: 'ok' }, cache: 'hit; ttl=30' }, 200],
      [{ consumer: 'acme', auth: { via: 'jwt', outcome: 'ok' }, cache: 'hit; ttl=29' }, 200],
      [{ consumer: 'acme', auth: { via: 'jwt', outcome: 'ok' }, cache: 'fwd=miss; fwd-status=200; stored' }, 200],
      [{ consumer: 'globex', auth: { via: 'api-key', outcome: 'ok' }, rateLimit: { outcome: 'denied' } }, 429],
      [{ auth: { via: 'api-key', outcome: 'invalid' } }, 401],
    ]
    const work: Promise<unknown>[] = []
    for (const [log, status] of logs) sink.write(recordOf({ ...base, ...log }, ctx(status)), (p) => void work.push(p))
    await Promise.all(work)
    const data = await queryMetrics(ns, settings(1), '5m', at)
    expect(data.topRoutes.find((r) => r.route === 'outcomes')).toMatchObject({ requests: 5, rateLimited: 1 })
    expect(data.topConsumers.filter((c) => c.consumer !== '(anonymous)')).toEqual([
      { consumer: 'acme', requests: 3, errors: 0, rateLimited: 0 },
      { consumer: 'globex', requests: 1, errors: 0, rateLimited: 1 },
    ])
    expect(data.totals).toMatchObject({ cacheHits: 2, cacheMisses: 1, rateLimited: 1, authFailed: 1 })
    expect(data.totals.cacheHitRatio).toBeCloseTo(2 / 3, 3)
  })

  it('counts hedged tries and the hedges that won, from a proxied call and from aggregation calls', async () => {
    const ns = aggregatorNamespace()
    const sink = aggregatorSink(ns, { ...settings(1), flushRecords: 1000, flushMs: 1 })
    // A day of its own: the totals are read whole.
    const at = Date.now() + 151 * DAY
    const base = { requestId: 'r', method: 'GET', path: '/p', durationMs: 3 }
    const logs: Record<string, unknown>[] = [
      { upstream: { name: 'pool', hedges: 1, hedgeWon: true } },
      { upstream: { name: 'pool', hedges: 2, hedgeWon: false } },
      { upstream: { name: 'pool' } },
      { calls: [{ call: 'a', name: 'pool', hedges: 1, hedgeWon: true }, { call: 'b', name: 'pool' }] },
    ]
    const work: Promise<unknown>[] = []
    for (const log of logs) sink.write(recordOf({ ...base, ...log }, { at, route: 'hedged', consumer: undefined, method: 'GET', status: 200 }), (p) => void work.push(p))
    await Promise.all(work)
    const data = await queryMetrics(ns, settings(1), '5m', at)
    expect(data.totals).toMatchObject({ requests: 4, hedges: 4, hedgeWins: 2 })
  })

  it('a table made before a count field existed gains its column, old rows intact', async () => {
    const ns = aggregatorNamespace()
    const stub = ns.get(ns.idFromName(`old-table-${crypto.randomUUID()}`))
    const at = Date.now() + 152 * DAY
    const minute = Math.floor(at / 60_000)
    const report = await runInDurableObject(stub as unknown as DurableObjectStub<MetricsAggregator>, async (_, state) => {
      const sql = state.storage.sql
      sql.exec('DROP TABLE buckets')
      sql.exec(`CREATE TABLE buckets (minute INTEGER NOT NULL, route TEXT NOT NULL, consumer TEXT NOT NULL, requests INTEGER NOT NULL DEFAULT 0,
        s2xx INTEGER NOT NULL DEFAULT 0, latency TEXT NOT NULL, upstream_latency TEXT NOT NULL, PRIMARY KEY (minute, route, consumer))`)
      sql.exec("INSERT INTO buckets (minute, route, consumer, requests, s2xx, latency, upstream_latency) VALUES (?, 'old', '(anonymous)', 7, 7, '{}', '{}')", minute)
      // The next version of the object starts on that storage.
      const upgraded = new MetricsAggregator(state, env as never)
      await upgraded.ingest(groupsOf([record({ at, route: 'old', hedges: 1, hedgeWins: 1 })]), 1500)
      return upgraded.query(minute, minute, 1)
    })
    expect(report.routes[0]!.counts).toMatchObject({ requests: 8, s2xx: 8, hedges: 1, hedgeWins: 1 })
  })

  it('an isolate batches: one call per flushRecords records, folded per minute, route and consumer', async () => {
    const calls: Group[][] = []
    const ns = {
      idFromName: (name: string) => name,
      get: () => ({ ingest: async (groups: Group[]) => void calls.push(groups) }),
    } as never
    const sink = aggregatorSink(ns, { ...settings(1), flushMs: 10, flushRecords: 5 })
    const work: Promise<unknown>[] = []
    const waitUntil = (p: Promise<unknown>) => void work.push(p)
    for (let i = 0; i < 5; i++) sink.write(record({ route: i % 2 ? 'a' : 'b' }), waitUntil)
    await Promise.all(work)
    expect(calls).toHaveLength(1)
    expect(calls[0]!.map((g) => [g.route, g.counts.requests]).sort()).toEqual([
      ['a', 2],
      ['b', 3],
    ])
    // Fewer than flushRecords: sent by the timer of the request that found none scheduled.
    sink.write(record({ route: 'c' }), waitUntil)
    sink.write(record({ route: 'c' }), waitUntil)
    await Promise.all(work)
    expect(calls).toHaveLength(2)
    expect(calls[1]).toHaveLength(1)
    expect(calls[1]![0]!.counts.requests).toBe(2)
  })

  it('the alarm deletes minute rows past the retention and keeps recent ones', async () => {
    const ns = aggregatorNamespace()
    const stub = ns.get(ns.idFromName('retention-test'))
    const now = Date.now()
    await stub.ingest(groupsOf([record({ at: now - 120 * 60_000, route: 'old' }), record({ at: now, route: 'new' })]), 60)
    const before = await stub.query(0, Math.floor(now / 60_000) + 1, 1)
    expect(before.routes.map((g) => g.route).sort()).toEqual(['new', 'old'])
    expect(await runDurableObjectAlarm(stub)).toBe(true)
    const after = await stub.query(0, Math.floor(now / 60_000) + 1, 1)
    expect(after.routes.map((g) => g.route)).toEqual(['new'])
  })

  it('malformed groups are skipped, the rest is kept', async () => {
    const ns = aggregatorNamespace()
    const stub = ns.get(ns.idFromName('malformed-test'))
    const good = groupsOf([record({ route: 'ok' })])
    const bad = [{ minute: 'x' }, { ...good[0]!, route: 'r'.repeat(500) }, null] as never[]
    expect(await stub.ingest([...bad, ...good], 1500)).toBe(1)
    const answer = await stub.query(0, Math.floor(Date.now() / 60_000) + 1, 1)
    expect(answer.routes.map((g) => [g.route, g.counts.requests])).toEqual([['ok', 1]])
  })
})
