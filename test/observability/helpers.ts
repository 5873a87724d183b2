/** Helpers for the metrics tests: a gateway with injectable sinks, and the aggregator's shards. */
import { env } from 'cloudflare:workers'
import type { GatewayConfigInput } from '../../src/config/schema'
import { testGateway, type TestGateway } from '../support/gateway'
import type { AggregatorNamespace } from '../../src/observability/batcher'
import type { MetricsSink } from '../../src/observability/sink'

export const ADMIN = { Authorization: `Bearer ${env.ADMIN_TOKEN}` }

export const aggregatorNamespace = () => (env as unknown as { METRICS_AGGREGATOR: AggregatorNamespace }).METRICS_AGGREGATOR

export type MetricsTestGateway = TestGateway

/** `testGateway` with metrics sinks injected instead of the configured ones. */
export function metricsGateway(config: GatewayConfigInput, extraEnv: Record<string, unknown> = {}, sinks?: MetricsSink[]): MetricsTestGateway {
  return testGateway(config, extraEnv, sinks ? { metricsSinks: sinks } : {})
}
