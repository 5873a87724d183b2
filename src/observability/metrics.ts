/**
 * @module
 * The outermost middleware: once the response is ready (and the log record complete), it adds
 * `Server-Timing` when configured, then hands the request's metrics to each sink inside
 * `waitUntil`, so recording never delays or fails the response. Admin and dashboard traffic is
 * not counted (the dashboard's own polling would drown the numbers it shows). A request whose
 * client went away is recorded from the abort listener, with status 499 (see `request-context`).
 */
import type { Context, MiddlewareHandler } from 'hono'
import type { AppEnv } from '../core/context'
import type { Env } from '../core/env'
import { setResponseHeader } from '../core/http'
import { CLIENT_CLOSED_STATUS, logEvent } from '../core/logging'
import { aggregatorSink, type AggregatorNamespace } from './batcher'
import type { MetricsSettings } from './schema'
import { recordFrom, type MetricRecord } from './record'
import { analyticsEngineSink, reportSinkFailure, type MetricsSink, type WaitUntil } from './sink'
import { serverTimingValue } from './stage-timing'
import { executionContextOf, systemRuntime, type Runtime, type WaitUntilTarget } from '../core/runtime'

/** The sinks the settings ask for, given the bindings that exist. A missing binding is logged once, at build. */
export function configuredSinks(settings: MetricsSettings, env: Env, runtime: Runtime = systemRuntime): MetricsSink[] {
  const sinks: MetricsSink[] = []
  if (settings.analyticsEngine !== undefined) {
    const dataset = env[settings.analyticsEngine] as AnalyticsEngineDataset | undefined
    if (dataset && typeof dataset.writeDataPoint === 'function') sinks.push(analyticsEngineSink(dataset))
    else logEvent('metrics_binding_missing', { binding: settings.analyticsEngine, sink: 'analytics-engine' })
  }
  if (settings.aggregator) {
    const namespace = env[settings.aggregator.binding] as AggregatorNamespace | undefined
    if (namespace && typeof namespace === 'object') sinks.push(aggregatorSink(namespace, settings.aggregator, runtime))
    else logEvent('metrics_binding_missing', { binding: settings.aggregator.binding, sink: 'aggregator' })
  }
  return sinks
}

export type MetricsOptions = {
  /** Sinks used instead of the configured ones (tests inject recording or failing writers). */
  sinks?: MetricsSink[] | undefined
  /** The admin API's prefix while the admin API is on: its traffic is not counted. */
  adminPrefix?: string | undefined
  /** The gateway's runtime, handed to the sinks it builds (default: the system's). */
  runtime?: Runtime | undefined
}

/**
 * A config's metrics, built once: the middleware below, and what the gateway's compiled
 * pass-through (`gateway/fast-path.ts`) uses to do the same for the requests it serves.
 */
export type Metrics = {
  middleware: MiddlewareHandler<AppEnv>
  /** `Server-Timing` is added to responses. */
  serverTiming: boolean
  /** There are sinks to write records to. */
  recording: boolean
  /** Hands a record to each sink inside `waitUntil` (`where`: the request's context; nothing without one). */
  write(where: WaitUntilTarget | undefined, runtime: Runtime, record: () => MetricRecord): void
}

/** Returns undefined when there is nothing to do (no sinks, no Server-Timing). */
export function createMetrics(settings: MetricsSettings, env: Env, options: MetricsOptions = {}): Metrics | undefined {
  const sinks = options.sinks ?? configuredSinks(settings, env, options.runtime)
  const { serverTiming } = settings
  const admin = options.adminPrefix
  if (sinks.length === 0 && !serverTiming) return undefined

  const isAdmin = (path: string) => admin !== undefined && (path === admin || path.startsWith(`${admin}/`))

  /** Hands the record to each sink inside `waitUntil`. */
  function write(where: WaitUntilTarget | undefined, runtime: Runtime, record: () => MetricRecord): void {
    // No execution context (a plain app.request call): nowhere to run background work.
    if (!executionContextOf(where)) return
    const waitUntil: WaitUntil = (promise) => runtime.waitUntil(where, promise)
    waitUntil(
      (async () => {
        const written = record()
        for (const sink of sinks) {
          try {
            await sink.write(written, waitUntil)
          } catch (err) {
            reportSinkFailure(sink.name, err)
          }
        }
      })().catch((err) => reportSinkFailure('metrics', err)),
    )
  }

  const writeFrom = (c: Context<AppEnv>, record: () => MetricRecord) => write(c, c.get('runtime'), record)

  const middleware: MiddlewareHandler<AppEnv> = async function metrics(c, next) {
    let recorded = false
    // Called by the request context's abort listener (one listener a request, not one each), once
    // it has marked the log record. A span hook for a request cut short belongs beside this one.
    c.set('onClientGone', () => {
      if (recorded || sinks.length === 0 || c.get('log') === undefined || isAdmin(c.get('url').pathname)) return
      recorded = true
      queueMicrotask(() => writeFrom(c, () => ({ ...recordFrom(c), status: CLIENT_CLOSED_STATUS })))
    })
    await next()
    if (recorded || c.get('log') === undefined) return
    recorded = true
    if (serverTiming && c.res.status !== 101) {
      const log = c.get('log')
      setResponseHeader(c, 'Server-Timing', serverTimingValue(c.get('stageTimings'), log.upstream?.durationMs, log.durationMs ?? 0))
    }
    if (sinks.length === 0 || isAdmin(c.get('url').pathname)) return
    writeFrom(c, () => recordFrom(c))
  }
  return { middleware, serverTiming, recording: sinks.length > 0, write }
}
