/**
 * `GET /_edgeway/metrics?format=prometheus`: the aggregator's cumulative totals as the text
 * exposition format, read back with a strict parser (test/support/prometheus-text.ts); counters
 * that survive the minute rows' retention; bounded label sets; no partial sums.
 */
import { runDurableObjectAlarm } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { MAX_TOTAL_CONSUMERS, MAX_TOTAL_ROUTES, OTHER } from '../../src/observability/metrics-aggregator'
import { prometheusText, queryTotals, PROMETHEUS_CONTENT_TYPE } from '../../src/observability/prometheus'
import type { AggregatorNamespace } from '../../src/observability/batcher'
import { newTag, ORIGIN, sha256Hex, testGateway } from '../support/gateway'
import { parsePrometheusText, sampleValue } from '../support/prometheus-text'
import { stoppedClock } from '../support/runtime'
import { ADMIN, aggregatorNamespace, groupsOf, record } from './helpers'

const KEY = 'acme-prometheus-key-0123456789'


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
