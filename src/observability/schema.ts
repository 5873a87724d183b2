/**
 * @module
 * The `gateway.metrics` settings: where each request's metrics go (Workers Analytics Engine, the
 * built-in aggregator that feeds the dashboard) and whether responses carry `Server-Timing`.
 * Everything is off until configured; the demo config turns the aggregator on.
 */
import * as v from 'valibot'
import { Name } from '../core/schema'

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

export type MetricsSettings = v.InferOutput<typeof MetricsSettingsSchema>
export type MetricsAggregatorSettings = v.InferOutput<typeof MetricsAggregatorSchema>

/**
 * `gateway.metrics`, typed. Features see the config through `core/config-view`, where this section
 * is opaque; `config/` has validated it with `MetricsSettingsSchema` (defaults filled in).
 */
export function metricsSettingsOf(config: { readonly gateway: Readonly<Record<string, unknown>> }): MetricsSettings {
  return config.gateway.metrics as MetricsSettings
}
