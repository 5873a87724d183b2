/**
 * @module
 * Where metrics go. A `MetricsSink` takes one finished request's record; it may start background
 * work through `waitUntil`. Sinks never touch the response: the caller runs them after it, inside
 * `waitUntil`, and a sink that throws or rejects is caught and logged (at most once a minute per
 * sink and isolate, so a broken store doesn't flood the log).
 */
import { logEvent } from '../core/logging'
import type { MetricRecord } from './record'
import { systemRuntime } from '../core/runtime'

export type WaitUntil = (promise: Promise<unknown>) => void

export interface MetricsSink {
  readonly name: string
  write(record: MetricRecord, waitUntil: WaitUntil): void | Promise<void>
}

/**
 * Per isolate: a log throttle, one timestamp per sink name (a handful), kept across configs so a
 * hot reload can't turn a broken store into a flood. Read on the system clock: it only spaces out
 * log lines, and no test waits on it.
 */
const lastReported = new Map<string, number>()

/** Logs a sink failure, once a minute per sink at most. Never throws. */
export function reportSinkFailure(sink: string, err: unknown, now = systemRuntime.now()): void {
  if (now - (lastReported.get(sink) ?? 0) < 60_000) return
  lastReported.set(sink, now)
  try {
    logEvent('metrics_write_failed', { sink, error: String(err) })
  } catch {
    // Nothing left to do: metrics must never fail a request.
  }
}

/** Runs a promise in the background, reporting (never throwing) its failure. */
export function background(sink: string, waitUntil: WaitUntil, work: () => Promise<unknown>): void {
  let promise: Promise<unknown>
  try {
    promise = work()
  } catch (err) {
    reportSinkFailure(sink, err)
    return
  }
  waitUntil(promise.catch((err) => reportSinkFailure(sink, err)))
}

/**
 * Workers Analytics Engine: one data point per request. Columns (for SQL queries):
 *   index1  route
 *   blob1 route, blob2 consumer, blob3 method, blob4 upstream target, blob5 cache (hit|miss|none),
 *   blob6 auth outcome, blob7 rate-limit outcome, blob8 error code
 *   double1 status, double2 total ms, double3 upstream status (0: none), double4 upstream ms,
 *   double5 hedged tries sent, double6 hedges that gave the answer
 */
export function analyticsEngineSink(dataset: AnalyticsEngineDataset): MetricsSink {
  return {
    name: 'analytics-engine',
    write(r) {
      dataset.writeDataPoint({
        indexes: [r.route],
        blobs: [r.route, r.consumer, r.method, r.upstream ?? '', r.cache, r.auth, r.rateLimit, r.error ?? ''],
        doubles: [r.status, r.durationMs, r.upstreamStatus ?? 0, r.upstreamMs ?? 0, r.hedges ?? 0, r.hedgeWins ?? 0],
      })
    },
  }
}
