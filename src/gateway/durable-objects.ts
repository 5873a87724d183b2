/**
 * @module
 * Every Durable Object class the gateway's features use, in one explicit list. A Worker entry
 * exports them (`src/worker.ts`); wrangler.toml binds each one (`[[durable_objects.bindings]]`)
 * and declares it in a SQLite migration.
 */
export { SignatureNonces } from '../auth/signature-nonces'
export { HealthChecker } from '../upstream/health-checker'
export { MetricsAggregator } from '../observability/metrics-aggregator'
export { RateLimiter } from '../rate-limit/rate-limiter'
