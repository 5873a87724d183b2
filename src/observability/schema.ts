/**
 * @module
 * The `gateway.metrics` settings: where each request's metrics go (Workers Analytics Engine, the
 * built-in aggregator that feeds the dashboard) and whether responses carry `Server-Timing`; and
 * `gateway.telemetry`: where the gateway's own spans go (OTLP). Everything is off until
 * configured; the demo config turns the aggregator on.
 */
import * as v from 'valibot'
import { HeaderName, Name } from '../core/schema'

const int = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max))

export const MetricsAggregatorSchema = v.strictObject({
  binding: v.pipe(v.optional(Name, 'METRICS_AGGREGATOR'), v.description(SCHEMA_DOCS ? 'Durable Object binding of the MetricsAggregator class.' : '')),
  shards: v.pipe(v.optional(int(1, 64), 4), v.description(SCHEMA_DOCS ? 'Objects the writes are spread over; each isolate writes to one, queries read all.' : '')),
  retentionMinutes: v.pipe(v.optional(int(10, 10_080), 1500), v.description(SCHEMA_DOCS ? 'Minute buckets older than this are deleted (by alarm).' : '')),
  flushMs: v.pipe(v.optional(int(1, 60_000), 1000), v.description(SCHEMA_DOCS ? 'Longest time a record waits in the isolate before it is sent.' : '')),
  flushRecords: v.pipe(v.optional(int(1, 10_000), 200), v.description(SCHEMA_DOCS ? 'Records that trigger a send at once.' : '')),
})

export const MetricsSettingsSchema = v.strictObject({
  analyticsEngine: v.pipe(v.optional(Name), v.description(SCHEMA_DOCS ? 'Analytics Engine dataset binding: one data point per request.' : '')),
  aggregator: v.pipe(v.optional(MetricsAggregatorSchema), v.description(SCHEMA_DOCS ? 'The built-in aggregator behind the dashboard ({} for the defaults).' : '')),
  serverTiming: v.pipe(v.optional(v.boolean(), false), v.description(SCHEMA_DOCS ? 'Send `Server-Timing` with the time of each stage.' : '')),
})

function isHttpUrl(text: string): boolean {
  try {
    return /^https?:$/.test(new URL(text).protocol)
  } catch {
    return false
  }
}

/** Where the gateway's own spans go: an OTLP/HTTP JSON traces endpoint (a collector, or a vendor's `/v1/traces`). */
export const OtlpSettingsSchema = v.strictObject({
  endpoint: v.pipe(
    v.string(),
    v.check(isHttpUrl, 'must be an http(s) URL, e.g. "https://otlp.example.com/v1/traces"'),
    v.description(SCHEMA_DOCS ? 'The OTLP/HTTP traces URL, path included (`.../v1/traces`).' : ''),
  ),
  headers: v.pipe(
    v.optional(v.record(HeaderName, Name), {}),
    v.description(SCHEMA_DOCS ? 'Header name -> name of the Worker secret (or variable) whose value is sent: never the value itself.' : ''),
  ),
  sampleRate: v.pipe(
    v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1)), 1),
    v.description(SCHEMA_DOCS ? 'Share of the traces the gateway starts that are exported (0-1); a trace the caller started follows its sampled flag.' : ''),
  ),
  serviceName: v.pipe(v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(128))), v.description(SCHEMA_DOCS ? 'The `service.name` resource attribute (default: `gateway.name`).' : '')),
  flushMs: v.pipe(v.optional(int(1, 60_000), 1000), v.description(SCHEMA_DOCS ? 'Longest time a span waits in the isolate before it is sent.' : '')),
  batchSpans: v.pipe(v.optional(int(1, 1000), 256), v.description(SCHEMA_DOCS ? 'Spans a request to the endpoint carries at most; this many waiting are sent at once.' : '')),
  queueSpans: v.pipe(
    v.optional(int(1, 20_000), 2048),
    v.description(SCHEMA_DOCS ? 'Spans an isolate holds at most while the endpoint is slow or down; more are dropped and counted.' : ''),
  ),
  timeoutMs: v.pipe(v.optional(int(1, 60_000), 5000), v.description(SCHEMA_DOCS ? 'Longest wait for the endpoint to answer an export; then the batch is dropped and counted.' : '')),
})

export const TelemetrySettingsSchema = v.strictObject({
  otlp: v.pipe(v.optional(OtlpSettingsSchema), v.description(SCHEMA_DOCS ? "Export the gateway's spans (a server span per request, its stages and upstream tries) as OTLP/HTTP JSON." : '')),
})

export type MetricsSettings = v.InferOutput<typeof MetricsSettingsSchema>
export type OtlpSettings = v.InferOutput<typeof OtlpSettingsSchema>
export type TelemetrySettings = v.InferOutput<typeof TelemetrySettingsSchema>
export type MetricsAggregatorSettings = v.InferOutput<typeof MetricsAggregatorSchema>

/** `gateway.telemetry`, typed (validated by `config/` with `TelemetrySettingsSchema`, as `metricsSettingsOf`). */
export function telemetrySettingsOf(config: { readonly gateway: Readonly<Record<string, unknown>> }): TelemetrySettings {
  return (config.gateway.telemetry ?? {}) as TelemetrySettings
}

/**
 * `gateway.metrics`, typed. Features see the config through `core/config-view`, where this section
 * is opaque; `config/` has validated it with `MetricsSettingsSchema` (defaults filled in).
 */
export function metricsSettingsOf(config: { readonly gateway: Readonly<Record<string, unknown>> }): MetricsSettings {
  return config.gateway.metrics as MetricsSettings
}
