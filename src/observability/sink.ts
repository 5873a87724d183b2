/**
 * @module
 * Where metrics go. A `MetricsSink` takes one finished request's record; it may start background
 * work through `waitUntil`. Sinks never touch the response: the caller runs them after it, inside
 * `waitUntil`, and a sink that throws or rejects is caught and logged (at most once a minute per
 * sink and isolate, so a broken store doesn't flood the log).
 */
import { logEvent } from '../core/logging'
import type { MetricRecord } from './record'
import { systemRuntime, type Runtime } from '../core/runtime'

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
 * When a buffering sink sends what it holds: at once when the buffer is full, else `flushMs` after
 * the first write that finds no send scheduled. A request may not await I/O another request
 * started, so there is no shared in-flight promise: the request that schedules a send sets a
 * timestamp first, and if its background work is cut off the timestamp goes stale after twice
 * `flushMs` and the next write schedules again.
 */
export function flushSchedule(sink: string, runtime: Runtime, flushMs: number) {
  let scheduledAt = 0
  return function afterWrite(full: boolean, waitUntil: WaitUntil, send: () => Promise<unknown>): void {
    if (full) {
      scheduledAt = 0
      return background(sink, waitUntil, send)
    }
    const now = runtime.now()
    if (now - scheduledAt < 2 * flushMs) return
    scheduledAt = now
    background(sink, waitUntil, async () => {
      await runtime.sleep(flushMs)
      scheduledAt = 0
      await send()
    })
  }
}

/**
 * Workers Analytics Engine: one data point per request. Columns (for SQL queries):
 *   index1  route
 *   blob1 route, blob2 consumer, blob3 method, blob4 upstream target, blob5 cache (hit|miss|none),
 *   blob6 auth outcome, blob7 rate-limit outcome, blob8 error code
 *   double1 status, double2 total ms, double3 upstream status (0: none), double4 upstream ms,
 *   double5 hedged tries sent, double6 hedges that gave the answer, double7 calls an open circuit
 *   breaker refused, double8 circuits opened (new columns go last: a query by position keeps working)
 */
export function analyticsEngineSink(dataset: AnalyticsEngineDataset): MetricsSink {
  return {
    name: 'analytics-engine',
    write(r) {
      dataset.writeDataPoint({
        indexes: [r.route],
        blobs: [r.route, r.consumer, r.method, r.upstream ?? '', r.cache, r.auth, r.rateLimit, r.error ?? ''],
        doubles: [r.status, r.durationMs, r.upstreamStatus ?? 0, r.upstreamMs ?? 0, r.hedges ?? 0, r.hedgeWins ?? 0, r.breakerRejections ?? 0, r.breakerOpens ?? 0],
      })
    },
  }
}
