/**
 * @module
 * Upstreams compiled by `createGateway`, once per config: their targets (one, or a weighted pool),
 * and the resilience machinery each one was configured with (balancer, sticky sessions, passive
 * and active health, circuit breakers, retries, fallback). Their state (counters, ejections,
 * breaker windows, the cached shared health) is per config: it lives in these objects, not at
 * module level, so it lasts as long as the compiled config (a hot reload starts it afresh) and
 * reads the time and randomness of the runtime the config was compiled with.
 */
import type { UpstreamConfig } from './schema'
import type { HealthChecker } from './health-checker'
import type { Env } from '../core/env'
import { createActiveHealth, type ActiveHealth } from './active-health'
import { createBalancer, keyReader, type Balancer } from './balancer'
import { CircuitBreaker } from './breaker'
import { createPassiveHealth, type PassiveHealth } from './health'
import { compileTargets, UpstreamConfigError, type Target } from './pool'
import { createRetryPolicy, type RetryBudget, type RetryPolicy } from './retry'
import { createSticky, type Sticky } from './sticky'
import { systemRuntime, type Runtime } from '../core/runtime'

export { interpolateVars, UpstreamConfigError } from './pool'
export type { Target } from './pool'

export type CompiledUpstream = {
  name: string
  /** For logs: the first target's origin or `service:BINDING` (each try logs its own target). */
  label: string
  timeouts: { headers: number; idle: number; total?: number | undefined }
  /** The first target's URL and fetch (kept for callers that predate pools). */
  urlFor(path: string, search: string): string
  fetch(request: Request): Promise<Response>
  targets: Target[]
  balancer: Balancer
  /** Reads the `hashOn` key of a call. */
  hashKey?: ReturnType<typeof keyReader> | undefined
  sticky?: Sticky | undefined
  passive?: PassiveHealth | undefined
  active?: ActiveHealth | undefined
  /** One per target (same order), when a circuit breaker is configured. */
  breakers?: CircuitBreaker[] | undefined
  breakerStatuses?: Set<number> | undefined
  failFast: boolean
  retry?: RetryPolicy | undefined
  /** The budget hedges take from when there is no `retry` (`./hedge`), made on the first hedged call. */
  hedgeBudget?: RetryBudget | undefined
  fallback?: UpstreamConfig['fallback']
  /** The gateway's runtime: the clock, random source and timers of every try and of the state above. */
  runtime: Runtime
  /** The fallback upstream, linked after every upstream is compiled (`linkFallbacks`). */
  fallbackUpstream?: CompiledUpstream | undefined
}

export function compileUpstream(name: string, config: UpstreamConfig, env: Env, gatewayName = 'edgeway', runtime: Runtime = systemRuntime): CompiledUpstream {
  const targets = compileTargets(name, config, env)
  const first = targets[0]!
  let active: ActiveHealth | undefined
  if (config.healthCheck) {
    const hc = config.healthCheck
    const namespace = env[hc.binding] as DurableObjectNamespace<HealthChecker> | undefined
    if (!namespace || typeof namespace.idFromName !== 'function') {
      throw new UpstreamConfigError(`upstreams.${name}.healthCheck.binding`, `no Durable Object binding "${hc.binding}" in the Worker's environment`)
    }
    const spec = {
      targets: targets.map((t) => ({ id: t.id, ...t.address })),
      path: hc.path,
      interval: hc.interval,
      timeout: hc.timeout,
      healthyThreshold: hc.healthyThreshold,
      unhealthyThreshold: hc.unhealthyThreshold,
    }
    active = createActiveHealth(`${gatewayName}/${name}`, spec, hc.cacheMs, namespace, runtime)
  }
  const cb = config.circuitBreaker
  return {
    name,
    label: first.label,
    timeouts: config.timeouts,
    urlFor: first.urlFor,
    fetch: first.fetch,
    targets,
    balancer: createBalancer(config.balance, targets, runtime),
    hashKey: config.balance === 'hash' && config.hashOn ? keyReader(config.hashOn) : undefined,
    sticky: config.sticky ? createSticky(name, config.sticky, targets) : undefined,
    passive: config.passive ? createPassiveHealth(config.passive, targets, runtime) : undefined,
    active,
    breakers: cb ? targets.map(() => new CircuitBreaker(cb, runtime)) : undefined,
    breakerStatuses: cb ? new Set(cb.statuses) : undefined,
    failFast: cb?.whenOpen === 'fail-fast',
    retry: config.retries ? createRetryPolicy(config.retries, runtime) : undefined,
    fallback: config.fallback,
    runtime,
  }
}

/** Links each upstream to its fallback upstream (validation guarantees it exists). */
export function linkFallbacks(upstreams: Map<string, CompiledUpstream>): void {
  for (const upstream of upstreams.values()) {
    const name = upstream.fallback?.upstream
    if (name !== undefined) upstream.fallbackUpstream = upstreams.get(name)
  }
}
