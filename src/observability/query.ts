/**
 * @module
 * The dashboard's numbers: every shard is asked for a window, the answers are merged (counts add,
 * histograms add) and percentiles are read from the merged histograms. A shard that fails is
 * counted in `shards.failed` and the rest is still shown; when all fail the caller gets an error.
 */
import { GatewayError } from '../core/errors'
import { type Group, mergeGroup, minuteOf, newGroup, type ShardSummary } from './metric-groups'
import { shardName, type AggregatorNamespace } from './batcher'
import type { MetricsAggregatorSettings } from './schema'
import { percentiles } from './histogram'

/** The selectable windows: length and chart step, in minutes. */
export const WINDOWS = {
  '5m': { minutes: 5, step: 1 },
  '15m': { minutes: 15, step: 1 },
  '1h': { minutes: 60, step: 1 },
  '6h': { minutes: 360, step: 5 },
  '24h': { minutes: 1440, step: 10 },
} as const
export type WindowName = keyof typeof WINDOWS

const TOP = 10

const ratio = (part: number, whole: number) => (whole > 0 ? Math.round((part / whole) * 10_000) / 10_000 : null)

function mergeBy<K>(groups: Group[], key: (g: Group) => K, make: (g: Group) => Group): Map<K, Group> {
  const out = new Map<K, Group>()
  for (const g of groups) {
    const k = key(g)
    let into = out.get(k)
    if (!into) out.set(k, (into = make(g)))
    mergeGroup(into, g)
  }
  return out
}

/** One point per `step` minutes of the window, oldest first; a step no shard saw counts zero. */
function seriesOf(steps: Map<number, Group>, fromMinute: number, toMinute: number, step: number) {
  const series = []
  for (let m = Math.floor(fromMinute / step) * step; m <= toMinute; m += step) {
    const g = steps.get(m) ?? newGroup(m, '*', '*')
    series.push({
      at: new Date(m * 60_000).toISOString(),
      requests: g.counts.requests,
      errors: g.counts.s5xx,
      rateLimited: g.counts.rateLimited,
      cacheHits: g.counts.cacheHit,
      cacheMisses: g.counts.cacheMiss,
      ...percentiles(g.latency),
    })
  }
  return series
}

/** The window's totals, rates and latency percentiles. */
function totalsOf(total: Group, minutes: number) {
  const t = total.counts
  return {
    requests: t.requests,
    ratePerSecond: Math.round((t.requests / (minutes * 60)) * 1000) / 1000,
    errors: t.s5xx,
    errorRate: ratio(t.s5xx, t.requests),
    clientErrors: t.s4xx,
    rateLimited: t.rateLimited,
    authFailed: t.authFailed,
    cacheHits: t.cacheHit,
    cacheMisses: t.cacheMiss,
    cacheHitRatio: ratio(t.cacheHit, t.cacheHit + t.cacheMiss),
    upstreamErrors: t.upstreamErrors,
    // Calls an open circuit refused (no try sent), and circuits opened: each isolate has its own breakers.
    breakerRejections: t.breakerRejections,
    breakerOpens: t.breakerOpens,
    hedges: t.hedges,
    hedgeWins: t.hedgeWins,
    latencyMs: percentiles(total.latency),
    upstreamLatencyMs: percentiles(total.upstreamLatency),
  }
}

/** The TOP groups with the most requests. */
function busiest(groups: Map<string, Group>): Group[] {
  return [...groups.values()].sort((a, b) => b.counts.requests - a.counts.requests).slice(0, TOP)
}

export function report(window: WindowName, now: number, answers: ShardSummary[], shardCount: number) {
  const { minutes, step } = WINDOWS[window]
  const toMinute = minuteOf(now)
  const fromMinute = toMinute - minutes + 1
  const steps = mergeBy(answers.flatMap((a) => a.steps), (g) => g.minute, (g) => newGroup(g.minute, '*', '*'))
  const routes = mergeBy(answers.flatMap((a) => a.routes), (g) => g.route, (g) => newGroup(0, g.route, '*'))
  const consumers = mergeBy(answers.flatMap((a) => a.consumers), (g) => g.consumer, (g) => newGroup(0, '*', g.consumer))
  const total = newGroup(0, '*', '*')
  for (const g of steps.values()) mergeGroup(total, g)
  const t = total.counts
  return {
    window,
    from: new Date(fromMinute * 60_000).toISOString(),
    to: new Date((toMinute + 1) * 60_000).toISOString(),
    stepMinutes: step,
    shards: { total: shardCount, failed: shardCount - answers.length },
    totals: totalsOf(total, minutes),
    statuses: { '2xx': t.s2xx, '3xx': t.s3xx, '4xx': t.s4xx, '5xx': t.s5xx },
    series: seriesOf(steps, fromMinute, toMinute, step),
    topRoutes: busiest(routes).map((g) => ({
      route: g.route,
      requests: g.counts.requests,
      errors: g.counts.s5xx,
      rateLimited: g.counts.rateLimited,
      breakerRejections: g.counts.breakerRejections,
      p95: percentiles(g.latency).p95,
    })),
    topConsumers: busiest(consumers).map((g) => ({
      consumer: g.consumer,
      requests: g.counts.requests,
      errors: g.counts.s5xx,
      rateLimited: g.counts.rateLimited,
    })),
  }
}

export type MetricsReport = ReturnType<typeof report>

/** Asks every shard for the window and merges the answers. */
export async function queryMetrics(namespace: AggregatorNamespace, settings: MetricsAggregatorSettings, window: WindowName, now: number): Promise<MetricsReport> {
  const { minutes, step } = WINDOWS[window]
  const toMinute = minuteOf(now)
  const fromMinute = toMinute - minutes + 1
  const results = await Promise.allSettled(
    Array.from({ length: settings.shards }, async (_, shard) => namespace.get(namespace.idFromName(shardName(shard))).query(fromMinute, toMinute, step)),
  )
  const answers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value as ShardSummary] : []))
  if (answers.length === 0) {
    const reason = results[0]?.status === 'rejected' ? results[0].reason : undefined
    throw new GatewayError('ERR_METRICS_UNAVAILABLE', { detail: 'No metrics shard answered; try again shortly.', cause: reason })
  }
  return report(window, now, answers, settings.shards)
}
