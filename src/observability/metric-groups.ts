/**
 * @module
 * The aggregate the built-in aggregator keeps: per minute, route and consumer, request counts by
 * outcome and two latency histograms. The worker folds records into groups before sending them
 * (one write per batch), each shard folds groups into its minute rows, and a query folds shard
 * answers into the dashboard's numbers. All three folds are the same addition.
 */
import { type Histogram, mergeInto, observe } from './histogram'
import type { MetricRecord } from './record'

export const COUNT_FIELDS = [
  'requests',
  's2xx',
  's3xx',
  's4xx',
  's5xx',
  'rateLimited',
  'authFailed',
  'cacheHit',
  'cacheMiss',
  'upstreamErrors',
  // Hedged tries sent (`hedge` on a route or call), and how many of them gave the answer.
  'hedges',
  'hedgeWins',
  /** Upstream tries (retries included; a proxy's and each aggregation call's). */
  'upstreamTries',
  /** Upstream calls refused because of an open circuit, and circuits opened (`record.ts`). */
  'breakerRejections',
  'breakerOpens',
  /** Sums of the latencies, in whole microseconds: a Prometheus histogram's `_sum`. */
  'latencyUs',
  'upstreamUs',
] as const
export type CountField = (typeof COUNT_FIELDS)[number]
export type Counts = Record<CountField, number>

/** One row: a minute (minutes since the epoch), a route and a consumer. */
export type Group = {
  minute: number
  route: string
  consumer: string
  counts: Counts
  latency: Histogram
  upstreamLatency: Histogram
}

export const emptyCounts = (): Counts => Object.fromEntries(COUNT_FIELDS.map((f) => [f, 0])) as Counts

export const minuteOf = (ms: number) => Math.floor(ms / 60_000)

const AUTH_FAILURES = new Set(['missing', 'invalid', 'forbidden', 'unavailable'])

export function newGroup(minute: number, route: string, consumer: string): Group {
  return { minute, route, consumer, counts: emptyCounts(), latency: {}, upstreamLatency: {} }
}

/** Whole microseconds of a duration: sums stay integers, so shards add them exactly. */
const micros = (ms: number) => (Number.isFinite(ms) && ms > 0 ? Math.round(ms * 1000) : 0)

/** Folds one record into `groups` (keyed by minute, route and consumer). */
export function addRecord(groups: Map<string, Group>, record: MetricRecord): void {
  const minute = minuteOf(record.at)
  const key = `${minute}\u0000${record.route}\u0000${record.consumer}`
  let group = groups.get(key)
  if (!group) groups.set(key, (group = newGroup(minute, record.route, record.consumer)))
  const c = group.counts
  c.requests++
  const cls = Math.floor(record.status / 100)
  if (cls === 2) c.s2xx++
  else if (cls === 3) c.s3xx++
  else if (cls === 4) c.s4xx++
  else if (cls >= 5) c.s5xx++
  if (record.rateLimit === 'denied') c.rateLimited++
  if (AUTH_FAILURES.has(record.auth)) c.authFailed++
  if (record.cache === 'hit') c.cacheHit++
  else if (record.cache === 'miss') c.cacheMiss++
  if (record.upstream !== undefined && (record.upstreamStatus === undefined || record.upstreamStatus >= 500)) c.upstreamErrors++
  if (record.hedges) {
    c.hedges += record.hedges
    c.hedgeWins += record.hedgeWins ?? 0
  }
  c.upstreamTries += record.upstreamTries ?? 0
  if (record.breakerRejections || record.breakerOpens) {
    c.breakerRejections += record.breakerRejections ?? 0
    c.breakerOpens += record.breakerOpens ?? 0
  }
  observe(group.latency, record.durationMs)
  c.latencyUs += micros(record.durationMs)
  if (record.upstreamMs !== undefined) {
    observe(group.upstreamLatency, record.upstreamMs)
    c.upstreamUs += micros(record.upstreamMs)
  }
}

/** Adds `from`'s counts and histograms into `into`; fields that are not whole numbers are skipped. */
export function mergeGroup(into: Group, from: Pick<Group, 'counts' | 'latency' | 'upstreamLatency'>): Group {
  for (const field of COUNT_FIELDS) {
    const n = from.counts[field]
    if (Number.isInteger(n) && n > 0) into.counts[field] += n
  }
  mergeInto(into.latency, from.latency)
  mergeInto(into.upstreamLatency, from.upstreamLatency)
  return into
}

/** What one shard answers for a window: totals per time step, per route and per consumer. */
export type ShardSummary = {
  steps: Group[]
  routes: Group[]
  consumers: Group[]
}

/** Folds rows into step, route and consumer totals (used by a shard, then across shards). */
export function summarize(rows: Iterable<Group>, stepMinutes: number): ShardSummary {
  const steps = new Map<number, Group>()
  const routes = new Map<string, Group>()
  const consumers = new Map<string, Group>()
  const into = <K>(map: Map<K, Group>, key: K, make: () => Group, row: Group) => {
    let group = map.get(key)
    if (!group) map.set(key, (group = make()))
    mergeGroup(group, row)
  }
  for (const row of rows) {
    const step = Math.floor(row.minute / stepMinutes) * stepMinutes
    into(steps, step, () => newGroup(step, '*', '*'), row)
    into(routes, row.route, () => newGroup(0, row.route, '*'), row)
    into(consumers, row.consumer, () => newGroup(0, '*', row.consumer), row)
  }
  return { steps: [...steps.values()], routes: [...routes.values()], consumers: [...consumers.values()] }
}
