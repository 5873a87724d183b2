/**
 * @module
 * The policy pipeline: what a request runs through, in order, in one place.
 *
 *   1. request      traffic rules, CORS preflight, request id      (global ones before routing)
 *   2. auth         jwt, api-key: establish the consumer
 *   3. rate-limit   limits and quotas, keyed by consumer, key, IP or route
 *                   (one with `beforeAuth` runs in the request phase, so it counts rejected credentials)
 *   4. cache        lookup; on a miss the rest runs and the response is stored on the way out
 *   5. transform    request edits before the upstream, response edits after it
 *   6. action       proxy / aggregate / respond / redirect
 *
 * Each policy is a Hono middleware: code after its `await next()` runs on the way out, so the
 * response side unwinds in reverse (transform, then cache store, ...). Within a phase, global
 * policies come first, then the route's, each in config order. Global policies are built once
 * and shared by every route.
 */
import type { MiddlewareHandler } from 'hono'
import type { GatewayConfig, PolicyConfig, RouteConfig } from '../config/schema'
import type { AppEnv } from '../core/context'
import type { Env } from '../core/env'
import { definitionOf, phaseOf } from '../config/policies'
import { PHASES, type Phase } from '../core/policy'
import type { FailureCounter } from '../core/failures'
import { credentialFailures } from '../rate-limit/credential-failures'
import { timedPolicy } from '../observability/stage-timing'

type BuiltPolicy = { phase: Phase; handler: MiddlewareHandler<AppEnv> }

function buildPolicies(policies: PolicyConfig[], base: string, route: RouteConfig | undefined, config: GatewayConfig, env: Env, failures: FailureCounter): BuiltPolicy[] {
  // Server-Timing wraps each policy to time its phase; without it, nothing is added.
  const timed = config.gateway.metrics.serverTiming
  return policies.map((policy, i) => {
    const definition = definitionOf(policy)!
    const handler = definition.create(policy as never, { config, env, route, at: `${base}[${i}]`, phaseOf, failures })
    const phase = phaseOf(policy)!
    return { phase, handler: timed ? timedPolicy(phase, handler) : handler }
  })
}

const byPhase = (a: BuiltPolicy, b: BuiltPolicy) => PHASES.indexOf(a.phase) - PHASES.indexOf(b.phase)

export type Pipeline = {
  /** Global `request`-phase policies: they run before routing, on every request (404s included). */
  preRouting: MiddlewareHandler<AppEnv>[]
  /** A route's policies in run order: its own request phase, then each later phase, global first. */
  forRoute(route: RouteConfig, index: number): MiddlewareHandler<AppEnv>[]
}

export function createPipeline(config: GatewayConfig, env: Env): Pipeline {
  const failures = credentialFailures(env)
  const global = buildPolicies(config.policies, 'policies', undefined, config, env, failures)
  return {
    preRouting: global.filter((p) => p.phase === 'request').map((p) => p.handler),
    forRoute(route, index) {
      const own = buildPolicies(route.policies, `routes[${index}].policies`, route, config, env, failures)
      const later = global.filter((p) => p.phase !== 'request')
      // Array.prototype.sort is stable: global before route, config order, within each phase.
      return [...later, ...own].sort(byPhase).map((p) => p.handler)
    },
  }
}
