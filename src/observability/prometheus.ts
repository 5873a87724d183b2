/**
 * @module
 * `GET {prefix}/metrics?format=prometheus`: the aggregator's cumulative totals in the Prometheus
 * text exposition format (version 0.0.4), so a Prometheus or Grafana Agent scrape works.
 *
 * Counters come from the totals each shard keeps beside its minute rows (never deleted, so they
 * never go down) summed over every shard. A scrape where a shard does not answer fails (503)
 * rather than report smaller sums, which Prometheus would take for a counter reset.
 *
 * Label sets are bounded: `route` by the config's routes (plus the gateway's own names such as
 * `(none)`; at most `MAX_TOTAL_ROUTES` a shard), `consumer` by `MAX_TOTAL_CONSUMERS` per route and
 * shard, past which traffic is counted under `(other)`. Latency histograms are per route only.
 *
 * Breaker state and per-target health are not here: a breaker lives in each isolate, and a scrape
 * reaches one isolate, so its state would be one isolate's of many (health is the health
 * checker's). What is here are counters every isolate adds to: calls its breakers refused, and
 * circuits that opened (`edgeway_upstream_breaker_*_total`).
 */
import { GatewayError } from '../core/errors'
import type { AggregatorNamespace } from './batcher'
import { shardName } from './batcher'
import { countOf, type Histogram } from './histogram'
import { type Group, mergeGroup, newGroup } from './metric-groups'
import type { MetricsAggregatorSettings } from './schema'

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/**
 * Histogram bucket bounds: every second bucket of `./histogram` (1, 2, 4 ... 32,768 ms), so each
 * `le` is exactly a bucket edge and its count is exact.
 */
const LE_BUCKETS = Array.from({ length: 16 }, (_, k) => ({ upToBucket: 2 * k, le: String(2 ** k / 1000) }))

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

const labelsText = (labels: Record<string, string>) =>
  `{${Object.entries(labels)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',')}}`

/** One metric family: its HELP and TYPE lines, then its samples. */
class Family {
  readonly lines: string[]
  constructor(readonly name: string, type: 'counter' | 'histogram', help: string) {
    this.lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`]
  }
  sample(labels: Record<string, string>, value: number, suffix = ''): void {
    this.lines.push(`${this.name}${suffix}${labelsText(labels)} ${value}`)
  }
  histogram(labels: Record<string, string>, histogram: Histogram, sumUs: number): void {
    const counts = Object.entries(histogram).map(([bucket, n]) => [Number(bucket), n] as const)
    for (const { upToBucket, le } of LE_BUCKETS) {
      this.sample({ ...labels, le }, counts.reduce((sum, [bucket, n]) => (bucket <= upToBucket ? sum + n : sum), 0), '_bucket')
    }
    const total = countOf(histogram)
    this.sample({ ...labels, le: '+Inf' }, total, '_bucket')
    this.sample(labels, sumUs / 1e6, '_sum')
    this.sample(labels, total, '_count')
  }
}

const byKey = (a: Group, b: Group) => (a.route < b.route ? -1 : a.route > b.route ? 1 : a.consumer < b.consumer ? -1 : a.consumer > b.consumer ? 1 : 0)

/** Folds groups by `key`, adding counts and histograms. */
function fold(groups: Group[], route: (g: Group) => string, consumer: (g: Group) => string): Group[] {
  const out = new Map<string, Group>()
  for (const g of groups) {
    const key = `${route(g)}\u0000${consumer(g)}`
    let into = out.get(key)
    if (!into) out.set(key, (into = newGroup(0, route(g), consumer(g))))
    mergeGroup(into, g)
  }
  return [...out.values()].sort(byKey)
}

/** The exposition text for the shards' totals (each shard's rows, any order). */
export function prometheusText(shardTotals: Group[]): string {
  const pairs = fold(shardTotals, (g) => g.route, (g) => g.consumer)
  const routes = fold(pairs, (g) => g.route, () => '*')

  const requests = new Family('edgeway_requests_total', 'counter', 'Requests by route, consumer and status class.')
  const rateLimited = new Family('edgeway_rate_limited_total', 'counter', 'Requests refused by a rate limit or quota.')
  for (const g of pairs) {
    const labels = { route: g.route, consumer: g.consumer }
    const c = g.counts
    const other = c.requests - c.s2xx - c.s3xx - c.s4xx - c.s5xx
    if (other > 0) requests.sample({ ...labels, status_class: '1xx' }, other)
    requests.sample({ ...labels, status_class: '2xx' }, c.s2xx)
    requests.sample({ ...labels, status_class: '3xx' }, c.s3xx)
    requests.sample({ ...labels, status_class: '4xx' }, c.s4xx)
    requests.sample({ ...labels, status_class: '5xx' }, c.s5xx)
    rateLimited.sample(labels, c.rateLimited)
  }

  const perRoute = {
    cacheHits: new Family('edgeway_cache_hits_total', 'counter', 'Cache hits.'),
    cacheMisses: new Family('edgeway_cache_misses_total', 'counter', 'Cache misses.'),
    authFailed: new Family('edgeway_auth_failures_total', 'counter', 'Requests refused for their credentials.'),
    tries: new Family('edgeway_upstream_tries_total', 'counter', 'Upstream tries, retries included.'),
    upstreamErrors: new Family('edgeway_upstream_errors_total', 'counter', 'Requests whose upstream failed.'),
    breakerRejections: new Family('edgeway_upstream_breaker_rejections_total', 'counter', 'Upstream calls refused without touching the upstream because of an open circuit breaker.'),
    breakerOpens: new Family('edgeway_upstream_breaker_opens_total', 'counter', 'Circuit breakers opened by failed tries (each isolate has its own breakers).'),
    latency: new Family('edgeway_request_duration_seconds', 'histogram', 'Time to response headers.'),
    upstreamLatency: new Family('edgeway_upstream_duration_seconds', 'histogram', 'Upstream time, all tries.'),
  }
  for (const g of routes) {
    const labels = { route: g.route }
    const c = g.counts
    perRoute.cacheHits.sample(labels, c.cacheHit)
    perRoute.cacheMisses.sample(labels, c.cacheMiss)
    perRoute.authFailed.sample(labels, c.authFailed)
    perRoute.tries.sample(labels, c.upstreamTries)
    perRoute.upstreamErrors.sample(labels, c.upstreamErrors)
    perRoute.breakerRejections.sample(labels, c.breakerRejections)
    perRoute.breakerOpens.sample(labels, c.breakerOpens)
    perRoute.latency.histogram(labels, g.latency, c.latencyUs)
    perRoute.upstreamLatency.histogram(labels, g.upstreamLatency, c.upstreamUs)
  }
  const families = [requests, rateLimited, ...Object.values(perRoute)]
  return `${families.map((f) => f.lines.join('\n')).join('\n')}\n`
}

/** Every shard's totals; throws 503 unless every shard answers (a partial sum would look like a counter reset). */
export async function queryTotals(namespace: AggregatorNamespace, settings: MetricsAggregatorSettings): Promise<Group[]> {
  const results = await Promise.allSettled(Array.from({ length: settings.shards }, async (_, shard) => namespace.get(namespace.idFromName(shardName(shard))).totals()))
  const failed = results.find((r) => r.status === 'rejected')
  if (failed) {
    throw new GatewayError('ERR_METRICS_UNAVAILABLE', {
      detail: 'A metrics shard did not answer; try again shortly.',
      cause: (failed as PromiseRejectedResult).reason,
    })
  }
  return results.flatMap((r) => (r.status === 'fulfilled' ? (r.value as Group[]) : []))
}
