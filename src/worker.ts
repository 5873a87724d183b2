/**
 * @module
 * What every Worker entry exports: the gateway's fetch handler for a bundled config, and the
 * Durable Object classes its features use. Each wrangler environment has a three-line entry
 * (`src/index.ts`, `src/entries/*.ts`) that picks its config file.
 */
import { checkExtensions, type Extensions } from './core/custom'
import type { Env } from './core/env'
import { GatewayHost } from './gateway/host'

export * from './gateway/durable-objects'

/**
 * The project's own policies and actions, by name: the config names them `custom:<name>`
 * (`core/custom.ts`, docs/extending.md).
 */
export type WorkerOptions = Extensions

/**
 * The Worker for a bundled config (validated on the first request, as every config it runs).
 *
 * @example
 * export default createWorker(config, { policies: { 'tenant-check': tenantCheck } })
 */
export function createWorker(bundledConfig: unknown, options: WorkerOptions = {}): ExportedHandler<Env> {
  checkExtensions(options)
  const host = new GatewayHost(bundledConfig, { extensions: options })
  return {
    fetch(request, env, ctx) {
      return host.fetch(request, env, ctx)
    },
  } satisfies ExportedHandler<Env>
}
