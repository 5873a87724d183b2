/**
 * @module
 * The `edgeway` package's main entry: what a project that builds on Edgeway imports.
 *
 * @example
 * // src/index.ts of a project
 * import { createWorker, definePolicy } from 'edgeway'
 * import config from '../gateway.json'
 * import { tenantCheck } from './tenant-check'
 *
 * // wrangler.toml binds these Durable Object classes, so the Worker's main module exports them.
 * export { HealthChecker, MetricsAggregator, RateLimiter, SignatureNonces } from 'edgeway'
 * export default createWorker(config, { policies: { 'tenant-check': tenantCheck } })
 */
export { createWorker, type WorkerOptions } from './worker'
export * from './gateway/durable-objects'
export {
  defineCustomPolicy as definePolicy,
  defineCustomAction as defineAction,
  type CustomPolicy as PolicyDefinition,
  type CustomAction as ActionDefinition,
  type CustomPolicyContext as PolicyContext,
  type CustomActionContext as ActionContext,
  type Extensions,
} from './core/custom'
export { GatewayError, type ErrorCode, type GatewayErrorOptions } from './core/errors'
export type { AppEnv, Consumer, MatchedRoute } from './core/context'
export type { Env } from './core/env'
export type { Phase } from './core/policy'
export type { Runtime } from './core/runtime'
export type { ConfigView, RouteView, PolicyView } from './core/config-view'
export type { GatewayConfig, GatewayConfigInput, RouteConfig, PolicyConfig, ActionConfig, UpstreamConfig } from './config/schema'
export { parseConfig, type ParseResult } from './config/parse'
export { gatewayJsonSchema, projectJsonSchema } from './config/json-schema'
