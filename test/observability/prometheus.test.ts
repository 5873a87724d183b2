/**
 * `GET /_edgeway/metrics?format=prometheus`: the aggregator's cumulative totals as the text
 * exposition format, read back with a strict parser (test/support/prometheus-text.ts); counters
 * that survive the minute rows' retention; bounded label sets; no partial sums; circuit breakers
 * that refuse calls and open, on real failing origins (the resilience fleet, test/node/fleet.ts).
 */
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { MAX_TOTAL_CONSUMERS, MAX_TOTAL_ROUTES, MetricsAggregator, OTHER } from '../../src/observability/metrics-aggregator'
import { prometheusText, queryTotals, PROMETHEUS_CONTENT_TYPE } from '../../src/observability/prometheus'
import type { MetricsReport } from '../../src/observability/query'
import type { AggregatorNamespace } from '../../src/observability/batcher'
import { newTag, ORIGIN, sha256Hex, testGateway } from '../support/gateway'
import { parsePrometheusText, sampleValue } from '../support/prometheus-text'
import { stoppedClock } from '../support/runtime'
import { setMode, spawn } from '../upstream/fleet'
import { ADMIN, aggregatorNamespace, groupsOf, record } from './helpers'

const KEY = 'acme-prometheus-key-0123456789'
const DAY = 86_400_000

describe('Prometheus exposition', () => {
  it('serves requests by route, consumer and status class, latency histograms, cache, rate-limit and upstream counters', async () => {
    // Route ids of its own: the suite's files share the aggregator, and totals never expire.
    const id = `prom-${newTag().slice(0, 8)}`
    // And a day of its own: other files read the minute rows of "now" whole.
    const gw = testGateway(
      {
        gateway: { metrics: { aggregator: { shards: 2, flushRecords: 1 } } },
        upstreams: { origin: { url: ORIGIN } },
        consumers: { 'prom-acme': { apiKeySecrets: ['PROM_KEY_HASH'] } },
        routes: [
          {
            id,
            match: { path: '/a/*' },
            policies: [
              { type: 'api-key' },
              { type: 'rate-limit', by: ['consumer'], limits: [{ name: 'm', limit: 2, window: 3600 }] },
            ] as never,
            action: { type: 'proxy', upstream: 'origin', stripPrefix: '/a' },
          },
          // The cache never serves a request with credentials: a route of its own.
          { id: `${id}-c`, match: { path: '/c/*' }, policies: [{ type: 'cache', defaultTtl: 60 }] as never, action: { type: 'proxy', upstream: 'origin', stripPrefix: '/c' } },
        ],
      },
      { PROM_KEY_HASH: await sha256Hex(KEY) },
      { runtime: stoppedClock(Date.now() + 131 * 86_400_000) },
    )
    const key = { 'x-api-key': KEY }
    const path = `/a/echo/${id}`
    expect((await gw.fetch(path, { headers: key })).status).toBe(200)
    expect((await gw.fetch(path, { headers: key })).status).toBe(200)
    expect((await gw.fetch(path, { headers: key })).status).toBe(429)
    expect((await gw.fetch(path)).status).toBe(401)
    const cached = `/c/echo/${id}?set-header=Cache-Control:%20max-age%3D60`
    expect((await gw.fetch(cached)).headers.get('cache-status')).toMatch(/fwd=/)
    expect((await gw.fetch(cached)).headers.get('cache-status')).toMatch(/hit/)

    expect((await gw.fetch('/_edgeway/metrics?format=prometheus')).status).toBe(401)
    const res = await gw.fetch('/_edgeway/metrics?format=prometheus', { headers: ADMIN })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe(PROMETHEUS_CONTENT_TYPE)
    const families = parsePrometheusText(await res.text())
    const at = (name: string, labels: Record<string, string>) => sampleValue(families, name, labels)

    expect(families.get('edgeway_requests_total')!.type).toBe('counter')
    expect(at('edgeway_requests_total', { route: id, consumer: 'prom-acme', status_class: '2xx' })).toBe(2)
    expect(at('edgeway_requests_total', { route: id, consumer: 'prom-acme', status_class: '4xx' })).toBe(1)
    expect(at('edgeway_requests_total', { route: id, consumer: '(anonymous)', status_class: '4xx' })).toBe(1)
    expect(at('edgeway_rate_limited_total', { route: id, consumer: 'prom-acme' })).toBe(1)
    expect(at('edgeway_auth_failures_total', { route: id })).toBe(1)
    expect(at('edgeway_cache_hits_total', { route: `${id}-c` })).toBe(1)
    expect(at('edgeway_cache_misses_total', { route: `${id}-c` })).toBe(1)
    expect(at('edgeway_upstream_tries_total', { route: id })).toBe(2)
    expect(at('edgeway_upstream_tries_total', { route: `${id}-c` })).toBe(1)
    expect(at('edgeway_upstream_errors_total', { route: id })).toBe(0)
    expect(families.get('edgeway_request_duration_seconds')!.type).toBe('histogram')
    expect(at('edgeway_request_duration_seconds_count', { route: id })).toBe(4)
    expect(at('edgeway_request_duration_seconds_bucket', { route: id, le: '+Inf' })).toBe(4)
    expect(at('edgeway_request_duration_seconds_sum', { route: id })).toBeGreaterThanOrEqual(0)
    expect(at('edgeway_upstream_duration_seconds_count', { route: id })).toBe(2)
  })

  it('counts circuit breakers per route: calls refused because of an open circuit, and each opening once (Prometheus, the dashboard, Analytics Engine)', async () => {
    const id = `prom-brk-${newTag().slice(0, 8)}`
    const [ff, lone, pairA, pairB, agg, plain] = await spawn(6)
    for (const failing of [ff, lone, pairA, agg, plain]) await setMode(failing!, 'fail', { status: 503 })
    const clock = stoppedClock(Date.now() + 133 * DAY)
    const points: AnalyticsEngineDataPoint[] = []
    const gw = testGateway(
      {
        gateway: { metrics: { aggregator: { shards: 2, flushRecords: 1 }, analyticsEngine: 'METRICS_AE' } },
        upstreams: {
          ff: { targets: [{ url: ff!.url }], circuitBreaker: { failures: 2, openMs: 5_000, whenOpen: 'fail-fast' } },
          lone: { targets: [{ url: lone!.url }], circuitBreaker: { failures: 1, openMs: 60_000 } },
          pair: { targets: [{ url: pairA!.url }, { url: pairB!.url }], circuitBreaker: { failures: 1, openMs: 60_000 } },
          agg: { targets: [{ url: agg!.url }], circuitBreaker: { failures: 1, openMs: 60_000, whenOpen: 'fail-fast' } },
          plain: { url: plain!.url },
        },
        routes: [
          ...['ff', 'lone', 'pair', 'plain'].map((name) => ({ id: `${id}-${name}`, match: { path: `/${name}/*` }, action: { type: 'proxy' as const, upstream: name } })),
          {
            id: `${id}-agg`,
            match: { path: '/agg' },
            action: { type: 'aggregate', calls: ['one', 'two'].map((name) => ({ name, upstream: 'agg', path: `/${name}`, required: false })) },
          },
        ],
      },
      { METRICS_AE: { writeDataPoint: (p: AnalyticsEngineDataPoint) => points.push(p) } },
      { runtime: clock },
    )
    const send = async (path: string) => {
      const res = await gw.fetch(path)
      const code = res.headers.get('content-type') === 'application/problem+json' ? ((await res.json()) as { code: string }).code : (await res.body?.cancel(), undefined)
      return code ? `${res.status} ${code}` : String(res.status)
    }
    const sendAll = async (path: string, n: number) => {
      const out: string[] = []
      for (let i = 0; i < n; i++) out.push(await send(path))
      return out
    }

    // Fail-fast: two failures open it; refused twice; the half-open probe fails and opens it again;
    // refused; the next probe passes and closes it.
    expect(await sendAll('/ff/x', 4)).toEqual(['503', '503', '503 ERR_CIRCUIT_OPEN', '503 ERR_CIRCUIT_OPEN'])
    await clock.advance(5_000)
    expect(await sendAll('/ff/x', 2)).toEqual(['503', '503 ERR_CIRCUIT_OPEN'])
    await setMode(ff!, 'up')
    await clock.advance(5_000)
    expect(await sendAll('/ff/x', 2)).toEqual(['200', '200'])
    // Failover with its only target open: no target left, refused by the breaker all the same.
    expect(await sendAll('/lone/x', 2)).toEqual(['503', '503 ERR_UPSTREAM_UNAVAILABLE'])
    // Failover with another target: the open one is skipped, nothing is refused.
    expect((await sendAll('/pair/x', 3)).sort()).toEqual(['200', '200', '503'])
    // Two aggregation calls fail at once: one opening (the later failure finds it open); then both refused.
    await send('/agg')
    expect((gw.logs.at(-1)!.calls as { breakerOpens?: number }[]).map((c) => c.breakerOpens ?? 0).sort()).toEqual([0, 1])
    await send('/agg')
    expect((gw.logs.at(-1)!.calls as { breakerRejected?: boolean }[]).map((c) => c.breakerRejected)).toEqual([true, true])
    // No breaker: nothing opens or is refused, however it fails.
    expect(await sendAll('/plain/x', 2)).toEqual(['503', '503'])

    const res = await gw.fetch('/_edgeway/metrics?format=prometheus', { headers: ADMIN })
    const families = parsePrometheusText(await res.text())
    expect(families.get('edgeway_upstream_breaker_rejections_total')!.type).toBe('counter')
    expect(families.get('edgeway_upstream_breaker_opens_total')!.type).toBe('counter')
    const per = (name: string) =>
      Object.fromEntries(['ff', 'lone', 'pair', 'agg', 'plain'].map((route) => [route, sampleValue(families, `edgeway_upstream_${name}_total`, { route: `${id}-${route}` })]))
    expect(per('breaker_rejections')).toEqual({ ff: 3, lone: 1, pair: 0, agg: 2, plain: 0 })
    expect(per('breaker_opens')).toEqual({ ff: 2, lone: 1, pair: 1, agg: 1, plain: 0 })
    // A refused call sent no try.
    expect(per('tries')).toEqual({ ff: 5, lone: 1, pair: 3, agg: 2, plain: 2 })

    // The dashboard's numbers (the minute rows of the same records) say the same.
    const report = (await (await gw.fetch('/_edgeway/metrics?window=5m', { headers: ADMIN })).json()) as MetricsReport
    expect(report.totals).toMatchObject({ breakerRejections: 6, breakerOpens: 5 })
    const refused = Object.fromEntries(report.topRoutes.map((r) => [r.route.slice(id.length + 1), r.breakerRejections]))
    expect(refused).toEqual({ ff: 3, lone: 1, pair: 0, agg: 2, plain: 0 })
    // And Analytics Engine: double7 calls refused, double8 circuits opened, per data point (one a request).
    const summed = (column: number) => {
      const out: Record<string, number> = {}
      for (const p of points) {
        const route = String(p.blobs![0]).slice(id.length + 1)
        out[route] = (out[route] ?? 0) + Number(p.doubles![column])
      }
      return out
    }
    expect(summed(6)).toEqual({ ff: 3, lone: 1, pair: 0, agg: 2, plain: 0 })
    expect(summed(7)).toEqual({ ff: 2, lone: 1, pair: 1, agg: 1, plain: 0 })
  })

  it('a shard whose totals predate a count gains its column in place: old totals kept, the new counter from 0', async () => {
    const ns = aggregatorNamespace()
    const stub = ns.get(ns.idFromName(`prometheus-old-totals-${newTag()}`))
    const text = await runInDurableObject(stub as unknown as DurableObjectStub<MetricsAggregator>, async (_, state) => {
      const sql = state.storage.sql
      sql.exec('DROP TABLE totals')
      sql.exec(`CREATE TABLE totals (route TEXT NOT NULL, consumer TEXT NOT NULL, requests INTEGER NOT NULL DEFAULT 0,
        s2xx INTEGER NOT NULL DEFAULT 0, latency TEXT NOT NULL, upstream_latency TEXT NOT NULL, PRIMARY KEY (route, consumer))`)
      sql.exec("INSERT INTO totals (route, consumer, requests, s2xx, latency, upstream_latency) VALUES ('old', '(anonymous)', 7, 7, '{}', '{}')")
      // The next version of the object starts on that storage.
      const upgraded = new MetricsAggregator(state, env as never)
      await upgraded.ingest(groupsOf([record({ route: 'old', status: 503, breakerRejections: 1 }), record({ route: 'old', breakerOpens: 1 })]), 60)
      return prometheusText(await upgraded.totals())
    })
    const families = parsePrometheusText(text)
    expect(sampleValue(families, 'edgeway_requests_total', { route: 'old', consumer: '(anonymous)', status_class: '2xx' })).toBe(8)
    expect(sampleValue(families, 'edgeway_requests_total', { route: 'old', consumer: '(anonymous)', status_class: '5xx' })).toBe(1)
    expect(sampleValue(families, 'edgeway_upstream_breaker_rejections_total', { route: 'old' })).toBe(1)
    expect(sampleValue(families, 'edgeway_upstream_breaker_opens_total', { route: 'old' })).toBe(1)
  })

  it('counters never go down: the totals outlive the minute rows the retention deletes', async () => {
    const ns = aggregatorNamespace()
    const stub = ns.get(ns.idFromName(`prometheus-retention-${newTag()}`))
    const now = Date.now()
    await stub.ingest(groupsOf([record({ at: now - 300 * 60_000, route: 'old', status: 503, durationMs: 1500 }), record({ at: now - 300 * 60_000, route: 'old' })]), 60)
    const before = parsePrometheusText(prometheusText(await stub.totals()))
    expect(await runDurableObjectAlarm(stub)).toBe(true)
    expect((await stub.query(0, Math.floor(now / 60_000) + 1, 1)).routes).toEqual([])
    const after = parsePrometheusText(prometheusText(await stub.totals()))
    expect(after).toEqual(before)
    expect(sampleValue(after, 'edgeway_requests_total', { route: 'old', consumer: '(anonymous)', status_class: '5xx' })).toBe(1)
    expect(sampleValue(after, 'edgeway_request_duration_seconds_sum', { route: 'old' })).toBe(1.505)
    // Cumulative: the 5 ms request is in every bucket from 8 ms up, the 1.5 s one from 2.048 s.
    expect(sampleValue(after, 'edgeway_request_duration_seconds_bucket', { route: 'old', le: '0.004' })).toBe(0)
    expect(sampleValue(after, 'edgeway_request_duration_seconds_bucket', { route: 'old', le: '0.008' })).toBe(1)
    expect(sampleValue(after, 'edgeway_request_duration_seconds_bucket', { route: 'old', le: '1.024' })).toBe(1)
    expect(sampleValue(after, 'edgeway_request_duration_seconds_bucket', { route: 'old', le: '2.048' })).toBe(2)
    // And later traffic adds to them.
    await stub.ingest(groupsOf([record({ route: 'old' })]), 60)
    expect(sampleValue(parsePrometheusText(prometheusText(await stub.totals())), 'edgeway_requests_total', { route: 'old', consumer: '(anonymous)', status_class: '2xx' })).toBe(2)
  })

  it(`keeps at most ${MAX_TOTAL_CONSUMERS} consumers a route and ${MAX_TOTAL_ROUTES} routes a shard; the rest count under (other)`, async () => {
    const ns = aggregatorNamespace()
    const stub = ns.get(ns.idFromName(`prometheus-bound-${newTag()}`))
    await stub.ingest(groupsOf(Array.from({ length: MAX_TOTAL_CONSUMERS + 5 }, (_, i) => record({ route: 'busy', consumer: `c${i}` }))), 60)
    let totals = await stub.totals()
    expect(totals).toHaveLength(MAX_TOTAL_CONSUMERS + 1)
    expect(totals.find((g) => g.route === 'busy' && g.consumer === OTHER)!.counts.requests).toBe(5)
    // A known series still counts under its own name.
    await stub.ingest(groupsOf([record({ route: 'busy', consumer: 'c0' })]), 60)
    expect((await stub.totals()).find((g) => g.consumer === 'c0')!.counts.requests).toBe(2)

    await stub.ingest(groupsOf(Array.from({ length: MAX_TOTAL_ROUTES + 2 }, (_, i) => record({ route: `r${i}` }))), 60)
    totals = await stub.totals()
    const routes = new Set(totals.map((g) => g.route))
    expect(routes.size).toBe(MAX_TOTAL_ROUTES + 1) // 'busy', r0..r998, and (other)
    expect(totals.find((g) => g.route === OTHER)).toMatchObject({ consumer: OTHER, counts: { requests: 3 } })
    const families = parsePrometheusText(prometheusText(totals))
    expect(new Set(families.get('edgeway_requests_total')!.samples.map((s) => s.labels.route)).size).toBe(MAX_TOTAL_ROUTES + 1)
  })

  it('escapes label values: quotes, backslashes and newlines read back exactly', () => {
    const route = 'we"ird\\route\nname'
    const families = parsePrometheusText(prometheusText(groupsOf([record({ route, consumer: 'ü "x"' })])))
    expect(sampleValue(families, 'edgeway_requests_total', { route, consumer: 'ü "x"', status_class: '2xx' })).toBe(1)
  })

  it.each([
    ['no newline at the end', '# TYPE a counter\na 1'],
    ['a bad escape', 'a{l="x\\y"} 1\n'],
    ['a series twice', 'a{l="x"} 1\na{l="x"} 2\n'],
    ['a negative counter', '# TYPE a_total counter\na_total -1\n'],
    ['a histogram without +Inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ['buckets going down', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
    ['samples of a family apart', 'a 1\nb 1\na{x="1"} 1\n'],
  ])('the test parser is strict: refuses %s', (_, text) => {
    expect(() => parsePrometheusText(text)).toThrow()
  })

  it('refuses a scrape (503) when a shard does not answer, rather than report smaller counters', async () => {
    const shard = (fails: boolean) => ({ totals: async () => (fails ? Promise.reject(new Error('down')) : groupsOf([record({})])) })
    const namespace = { idFromName: (name: string) => name, get: (name: string) => shard(name === 'shard-1') } as unknown as AggregatorNamespace
    await expect(queryTotals(namespace, { binding: 'X', shards: 2, retentionMinutes: 60, flushMs: 1, flushRecords: 1 })).rejects.toMatchObject({ code: 'ERR_METRICS_UNAVAILABLE', status: 503 })
  })

  it('an unknown format is a 400 problem', async () => {
    const gw = testGateway({ gateway: { metrics: { aggregator: {} } }, routes: [] })
    const res = await gw.fetch('/_edgeway/metrics?format=xml', { headers: ADMIN })
    expect(res.status).toBe(400)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
  })
})
