/**
 * @module
 * `gateway.telemetry.otlp`: the middleware that records a sampled request's spans (`./spans.ts`)
 * and hands them to the OTLP exporter (`./otlp.ts`) after the response, inside `waitUntil`.
 *
 * It sits right after the trace context (`./trace.ts`), so the server span is the gateway's hop of
 * the trace the caller started (or the gateway did), on the ids it propagates in `traceparent`.
 * Sampling is parent-based: a trace the caller started (a valid `traceparent`) is exported when
 * the caller sampled it, so the gateway's hop is in every trace the caller keeps; a trace the
 * gateway starts is exported at `sampleRate`, drawn from the runtime's random source, and when it
 * is not, the origin's `traceparent` says "not sampled". A request that is not sampled costs a
 * comparison (and a draw below a rate of 1); with no `otlp` settings the middleware does not exist
 * and policies are not wrapped (`gateway/pipeline.ts`).
 *
 * Admin and dashboard traffic is not traced, as it is not counted in metrics.
 */
import type { MiddlewareHandler } from 'hono'
import type { ConfigView } from '../core/config-view'
import type { AppEnv } from '../core/context'
import type { Env } from '../core/env'
import { ConfigError } from '../core/errors'
import { executionContextOf, nextTurn, systemRuntime, type Runtime } from '../core/runtime'
import { attributesOf, encodeSpan, otlpExporter, type ExportStats, type OtlpExporter, type Send } from './otlp'
import { telemetrySettingsOf, type OtlpSettings } from './schema'
import { reportSinkFailure } from './sink'
import { requestSpans, type RequestSpans } from './spans'
import type { TraceContext } from './trace'

/**
 * The exporter of each config's `otlp` settings, for `otlpStats`. Per isolate, keyed weakly by the
 * parsed settings object: an entry lives as long as that config.
 */
const exporters = new WeakMap<OtlpSettings, OtlpExporter>()

/** What the exporter built for these settings has exported and dropped in this isolate (tests, diagnostics). */
export function otlpStats(settings: OtlpSettings): ExportStats | undefined {
  return exporters.get(settings)?.stats
}

/** The header values, read from the Worker secrets (or variables) the settings name: a missing one fails the config, naming the field. */
function exportHeaders(settings: OtlpSettings, env: Env): Record<string, string> {
  const headers: Record<string, string> = {}
  const problems: string[] = []
  for (const [name, secret] of Object.entries(settings.headers)) {
    const value = env[secret]
    if (typeof value === 'string' && value !== '') headers[name] = value
    else problems.push(`gateway.telemetry.otlp.headers.${name}: no Worker secret or variable "${secret}" (set it with \`wrangler secret put ${secret}\`)`)
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return headers
}

export type TelemetryOptions = {
  runtime?: Runtime | undefined
  /** The admin API's prefix while the admin API is on: its traffic is not traced. */
  adminPrefix?: string | undefined
  /** How exports are sent (default: `fetch`). */
  send?: Send | undefined
}

/** Undefined when `gateway.telemetry.otlp` is not set: then nothing is added to any request. */
export function telemetryMiddleware(config: ConfigView, env: Env, options: TelemetryOptions = {}): MiddlewareHandler<AppEnv> | undefined {
  const settings = telemetrySettingsOf(config).otlp
  if (!settings) return undefined
  const runtime = options.runtime ?? systemRuntime
  const resource = attributesOf({ 'service.name': settings.serviceName ?? config.gateway.name, 'telemetry.sdk.name': 'edgeway', 'telemetry.sdk.language': 'webjs' })
  const exporter = otlpExporter(settings, exportHeaders(settings, env), resource, runtime, options.send)
  exporters.set(settings, exporter)
  const { sampleRate } = settings
  const admin = options.adminPrefix
  const isAdmin = (path: string) => admin !== undefined && (path === admin || path.startsWith(`${admin}/`))

  /** Ends the spans (at `end`, the response's time), names the server span by its route, and queues them. */
  function finish(spans: RequestSpans, c: Parameters<MiddlewareHandler<AppEnv>>[0], end: number): void {
    const server = spans.server
    const route = c.get('route')
    const log = c.get('log')
    const attributes = server.attributes
    if (route) {
      const path = config.routes[route.index]?.match.path
      if (path !== undefined) attributes['http.route'] = path
      attributes['edgeway.route.id'] = route.id
      server.name = `${c.req.method} ${path ?? route.id}`
    }
    const status = c.res.status
    attributes['http.response.status_code'] = status
    if (status >= 500) server.error = attributes['error.type'] = log.error ?? String(status)
    if (spans.overflow > 0) attributes['edgeway.spans_dropped'] = spans.overflow
    const traceId = spans.trace.traceId
    exporter.add(
      spans.finish(end).map((span) => encodeSpan(traceId, span)),
      (promise) => runtime.waitUntil(c, promise),
    )
  }

  /**
   * Parent-based: a trace the caller started is exported when the caller sampled it; one the
   * gateway started, at `sampleRate`, and when it is not, the origin is told so (flags `00`).
   */
  function sampled(c: Parameters<MiddlewareHandler<AppEnv>>[0], trace: TraceContext): boolean {
    if (trace.parentId !== undefined || trace.flags !== '01') return trace.flags === '01'
    if (sampleRate >= 1 || runtime.random() < sampleRate) return true
    trace.flags = '00'
    c.get('upstreamRequest').headers.set('traceparent', `00-${trace.traceId}-${trace.spanId}-00`)
    return false
  }

  return async function telemetry(c, next) {
    const trace = c.get('trace')
    const url = c.get('url')
    if (isAdmin(url.pathname) || !executionContextOf(c) || !sampled(c, trace)) return next()
    const spans = requestSpans(trace, c.get('startedAt'), runtime, {
      'http.request.method': c.req.method,
      'url.scheme': url.protocol.slice(0, -1),
      // The path only: query values never go into a span, as in the log line.
      'url.path': url.pathname,
      'server.address': url.hostname,
      'edgeway.request_id': c.get('requestId'),
    })
    c.set('spans', spans)
    ;(c.get('upstreamRequest').beforeSend ??= []).push(spans.onTry)
    await next()
    const end = runtime.now()
    // Encoded and queued on a later turn, once the response has gone: never on its time.
    runtime.waitUntil(
      c,
      nextTurn()
        .then(() => finish(spans, c, end))
        .catch((err) => reportSinkFailure('otlp', err)),
    )
  }
}
