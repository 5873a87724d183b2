/** Helpers for the metrics tests: a gateway with injectable sinks, and the aggregator's shards. */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import type { GatewayConfigInput } from '../../src/config/schema'
import { loadConfig } from '../../src/config/validate'
import type { Env } from '../../src/env'
import { createGateway } from '../../src/gateway'
import type { RequestLog } from '../../src/logging'
import type { AggregatorNamespace } from '../../src/metrics/batcher'
import type { MetricsSink } from '../../src/metrics/sink'

export const ADMIN = { Authorization: `Bearer ${env.ADMIN_TOKEN}` }

export const aggregatorNamespace = () => (env as unknown as { METRICS_AGGREGATOR: AggregatorNamespace }).METRICS_AGGREGATOR

export type MetricsTestGateway = {
  fetch(input: string, init?: RequestInit): Promise<Response>
  logs: RequestLog[]
}

/** Like `testGateway`, with metrics sinks injectable; waits for background work after each call. */
export function metricsGateway(config: GatewayConfigInput, extraEnv: Record<string, unknown> = {}, sinks?: MetricsSink[]): MetricsTestGateway {
  const logs: RequestLog[] = []
  const gatewayEnv = { ...env, ...extraEnv } as Env
  const app = createGateway(loadConfig(config), gatewayEnv, { writeLog: (line) => logs.push(line), ...(sinks && { metricsSinks: sinks }) })
  return {
    logs,
    async fetch(input, init) {
      const url = input.startsWith('http') ? input : `http://gateway.test${input}`
      const ctx = createExecutionContext()
      const res = await app.fetch(new Request(url, init), gatewayEnv, ctx)
      await waitOnExecutionContext(ctx)
      return res
    },
  }
}
