/**
 * @module
 * What every Worker entry exports: the gateway's fetch handler for a bundled config, and the
 * Durable Object classes its features use. Each wrangler environment has a three-line entry
 * (`src/index.ts`, `src/entries/*.ts`) that picks its config file.
 */
import type { Env } from './env'
import { GatewayHost } from './host'

export { HealthChecker } from './durable-objects/health-checker'
export { RateLimiter } from './durable-objects/rate-limiter'
export { MetricsAggregator } from './durable-objects/metrics-aggregator'

export function createWorker(bundledConfig: unknown): ExportedHandler<Env> {
  const host = new GatewayHost(bundledConfig)
  return {
    fetch(request, env, ctx) {
      return host.fetch(request, env, ctx)
    },
  } satisfies ExportedHandler<Env>
}
