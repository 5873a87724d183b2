/** Metrics never fail or change a response: failing writers, a throwing binding, and what gets written. */
import { describe, expect, it } from 'vitest'
import type { MetricRecord } from '../../src/observability/record'
import { recordOf } from '../../src/observability/record'
import type { MetricsSink } from '../../src/observability/sink'
import { ORIGIN, type Echo } from '../support/gateway'
import { metricsGateway } from './helpers'

const config = (metrics: Record<string, unknown>) => ({
  gateway: { metrics },
  upstreams: { origin: { url: ORIGIN } },
  routes: [{ id: 'echo', match: { path: '/*' }, action: { type: 'proxy' as const, upstream: 'origin' } }],
})

async function expectEcho(res: Response) {
  expect(res.status).toBe(200)
  expect(((await res.json()) as Echo).path).toBe('/echo/m')
}

describe('metrics never fail a request', () => {
  it('an Analytics Engine binding whose writeDataPoint throws', async () => {
    const dataset = { writeDataPoint: () => { throw new Error('AE down') } }
    const gw = metricsGateway(config({ analyticsEngine: 'METRICS_AE' }), { METRICS_AE: dataset })
    await expectEcho(await gw.fetch('/echo/m'))
    expect(gw.logs[0]!.status).toBe(200)
  })

  it('an aggregator binding that throws on every call', async () => {
    const broken = { idFromName: () => { throw new Error('no DO') }, get: () => { throw new Error('no DO') } }
    const gw = metricsGateway(config({ aggregator: { binding: 'BROKEN_DO', flushRecords: 1 } }), { BROKEN_DO: broken })
    for (let i = 0; i < 3; i++) await expectEcho(await gw.fetch('/echo/m'))
  })

  it('an aggregator whose calls reject', async () => {
    const rejecting = { idFromName: (n: string) => n, get: () => ({ ingest: () => Promise.reject(new Error('overloaded')) }) }
    const gw = metricsGateway(config({ aggregator: { binding: 'REJECTING_DO', flushMs: 1 } }), { REJECTING_DO: rejecting })
    await expectEcho(await gw.fetch('/echo/m'))
  })

  it('injected sinks that throw synchronously and reject, beside one that records', async () => {
    const seen: MetricRecord[] = []
    const sinks: MetricsSink[] = [
      { name: 'throws', write: () => { throw new Error('sync failure') } },
      { name: 'rejects', write: () => Promise.reject(new Error('async failure')) },
      { name: 'records', write: (r) => void seen.push(r) },
    ]
    const gw = metricsGateway(config({ serverTiming: true }), {}, sinks)
    await expectEcho(await gw.fetch('/echo/m?x=1', { method: 'GET' }))
    // The sinks after the failing ones still ran.
    expect(seen).toHaveLength(1)
    expect(seen[0]).toMatchObject({ route: 'echo', method: 'GET', status: 200, consumer: '(anonymous)', cache: 'none', upstreamStatus: 200 })
    expect(seen[0]!.upstream).toBe(new URL(ORIGIN).origin)
  })

  it("the gateway's own pages are counted under their own names, not as (none): no route matched", async () => {
    const seen: MetricRecord[] = []
    const gw = metricsGateway(
      {
        gateway: { metrics: {}, openapi: {}, portal: {} },
        upstreams: { origin: { url: ORIGIN } },
        routes: [{ id: 'echo', match: { path: '/echo/*' }, action: { type: 'proxy' as const, upstream: 'origin' } }],
      },
      {},
      [{ name: 'records', write: (r) => void seen.push(r) }],
    )
    for (const path of ['/openapi.json', '/portal', '/portal/portal.json', '/favicon.ico', '/nowhere']) await (await gw.fetch(path, { redirect: 'manual' })).arrayBuffer()
    expect(seen.map((r) => [r.route, r.status])).toEqual([
      ['(openapi)', 200],
      ['(portal)', 301],
      ['(portal)', 200],
      ['(favicon)', 404],
      ['(none)', 404],
    ])
    // The log line names them the same way.
    expect(gw.logs.map((line) => line.routeId)).toEqual(['(openapi)', '(portal)', '(portal)', undefined, undefined])
  })

  it('a missing binding is logged at build and the gateway runs without that sink', async () => {
    const gw = metricsGateway(config({ aggregator: { binding: 'NOT_BOUND' }, analyticsEngine: 'NOT_BOUND_AE' }))
    await expectEcho(await gw.fetch('/echo/m'))
  })
})

describe('what is written', () => {
  it('Analytics Engine gets one data point per request, with the documented columns', async () => {
    const points: AnalyticsEngineDataPoint[] = []
    const gw = metricsGateway(config({ analyticsEngine: 'METRICS_AE' }), { METRICS_AE: { writeDataPoint: (p: AnalyticsEngineDataPoint) => points.push(p) } })
    await gw.fetch('/echo/m')
    await gw.fetch('/status/502')
    expect(points).toHaveLength(2)
    expect(points[0]!.indexes).toEqual(['echo'])
    expect(points[0]!.blobs!.slice(0, 3)).toEqual(['echo', '(anonymous)', 'GET'])
    expect(points[0]!.blobs![3]).toBe(new URL(ORIGIN).origin)
    expect(points[1]!.doubles![0]).toBe(502)
    expect(points[1]!.doubles![2]).toBe(502)
  })

  it('reads the outcomes other features log: consumer, auth, rate limit, cache status', () => {
    const at = Date.now()
    const ctx = { at, route: 'users', consumer: undefined, method: 'GET', status: 200 }
    const base = { requestId: 'r', method: 'GET', path: '/' }
    expect(recordOf({ ...base, cache: 'hit; ttl=30' }, ctx).cache).toBe('hit')
    expect(recordOf({ ...base, cache: 'fwd=miss; fwd-status=200; stored' }, ctx).cache).toBe('miss')
    expect(recordOf({ ...base, cache: 'fwd=stale; fwd-status=503; ttl=-5; detail=stale-if-error' }, ctx).cache).toBe('miss')
    expect(recordOf({ ...base, cache: 'fwd=bypass; detail=method' }, ctx).cache).toBe('none')
    expect(recordOf({ ...base, consumer: 'acme', auth: { via: 'jwt', outcome: 'ok' } }, ctx)).toMatchObject({ consumer: 'acme', auth: 'ok' })
    expect(recordOf({ ...base, auth: { via: 'api-key', outcome: 'invalid' } }, { ...ctx, status: 401 }).auth).toBe('invalid')
    expect(recordOf({ ...base, rateLimit: { outcome: 'denied' } }, { ...ctx, status: 429 }).rateLimit).toBe('denied')
    expect(recordOf({ ...base, error: 'ERR_QUOTA_EXCEEDED' }, { ...ctx, status: 429 }).rateLimit).toBe('denied')
    // A 429 from the origin is not the gateway's limit.
    expect(recordOf({ ...base, upstream: { name: 'o', status: 429 } }, { ...ctx, status: 429 }).rateLimit).toBe('none')
    expect(recordOf(base, { ...ctx, route: undefined }).route).toBe('(none)')
  })
})
