/** Helpers for the metrics tests: a gateway with injectable sinks, and the aggregator's shards. */
import { env } from 'cloudflare:workers'
import type { GatewayConfigInput } from '../../src/config/schema'
import { testGateway, type TestGateway } from '../support/gateway'
import type { AggregatorNamespace } from '../../src/observability/batcher'
import type { MetricsSink } from '../../src/observability/sink'
import { addRecord, type Group } from '../../src/observability/metric-groups'
import type { MetricRecord } from '../../src/observability/record'

export const ADMIN = { Authorization: `Bearer ${env.ADMIN_TOKEN}` }

export const aggregatorNamespace = () => (env as unknown as { METRICS_AGGREGATOR: AggregatorNamespace }).METRICS_AGGREGATOR

export type MetricsTestGateway = TestGateway

/** `testGateway` with metrics sinks injected instead of the configured ones. */
export function metricsGateway(config: GatewayConfigInput, extraEnv: Record<string, unknown> = {}, sinks?: MetricsSink[]): MetricsTestGateway {
  return testGateway(config, extraEnv, sinks ? { metricsSinks: sinks } : {})
}

/** A metric record of a plain 200 GET on route `r`, now, with `over` changed. */
export const record = (over: Partial<MetricRecord>): MetricRecord => ({
  at: Date.now(),
  route: 'r',
  consumer: '(anonymous)',
  method: 'GET',
  status: 200,
  durationMs: 5,
  cache: 'none',
  auth: 'none',
  rateLimit: 'none',
  ...over,
})

/** Records folded into groups, as an isolate sends them to a shard. */
export const groupsOf = (records: MetricRecord[]): Group[] => {
  const map = new Map<string, Group>()
  records.forEach((r) => addRecord(map, r))
  return [...map.values()]
}
