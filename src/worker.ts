/**
 * @module
 * What every Worker entry exports: the gateway's fetch handler for a bundled config, and the
 * Durable Object classes its features use. Each wrangler environment has a three-line entry
 * (`src/index.ts`, `src/entries/*.ts`) that picks its config file.
 */
import type { Env } from './core/env'
import { GatewayHost } from './gateway/host'

export * from './gateway/durable-objects'

export function createWorker(bundledConfig: unknown): ExportedHandler<Env> {
  const host = new GatewayHost(bundledConfig)
  return {
    fetch(request, env, ctx) {
      return host.fetch(request, env, ctx)
    },
  } satisfies ExportedHandler<Env>
}
