/**
 * @module
 * What the admin API's `GET {prefix}/upstreams` answers (the dashboard's endpoints serve it, with
 * their session or bearer check, and its page shows it): every upstream's targets as the gateway
 * sees them now, for the operator asking why a target gets no traffic.
 *
 * Two kinds of state, and the answer says which is which. A target's circuit breaker and passive
 * ejection live in each isolate's memory (`./breaker`, `./health`): they are the view of the
 * isolate that answered (another isolate, or another data centre, may differ; a fresh one starts
 * with every circuit closed). A pool's active health (`healthCheck`) is the shared state of its
 * `HealthChecker` Durable Object, read as requests read it: the isolate's copy, refreshed when it
 * is older than `cacheMs`.
 *
 * @example
 * // GET /_edgeway/upstreams
 * { "scope": { ... }, "upstreams": [{ "name": "api", "targets": [{ "id": "0", "target": "https://a.example",
 *   "weight": 1, "breaker": { "state": "open", "reopensInMs": 4200 } }] }] }
 */
import type { Context } from 'hono'
import type { AppEnv } from '../core/context'
import type { BreakerState } from './breaker'
import type { TargetHealthState } from './health-checker'
import { waitUntilOf } from './client'
import type { CompiledUpstream } from './upstream'

/** What the answer says about where each field comes from. */
const SCOPE = {
  breaker: 'this isolate',
  ejectedForMs: 'this isolate (passive health)',
  health: 'shared by every isolate (the pool\'s HealthChecker object, as this isolate last read it)',
}

type TargetStatus = {
  id: string
  /** The origin (`https://api.example.com`) or `service:BINDING`, as the logs name it. */
  target: string
  weight: number
  /** Set while passive health keeps the target out (`passive`). */
  ejectedForMs?: number
  /** With `circuitBreaker`: its state, and while open, when it half-opens. */
  breaker?: { state: BreakerState; reopensInMs?: number }
  /** With `healthCheck`: the shared state (null while the object can't be read). */
  health?: { healthy: boolean; checkedAt: string | null; lastPassedAt: string | null; last?: number | string } | null
}

type UpstreamStatus = {
  name: string
  /** Where a failed call goes: another upstream, or a fixed answer's status. */
  fallback?: { upstream: string } | { status: number }
  /** With `healthCheck`: when the object last probed (null while it can't be read). */
  healthCheckedAt?: string | null
  targets: TargetStatus[]
}

const isoOrNull = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null)

function healthOf(state: TargetHealthState | undefined): TargetStatus['health'] {
  if (!state) return null
  return { healthy: state.healthy, checkedAt: isoOrNull(state.checkedAt), lastPassedAt: isoOrNull(state.okAt), ...(state.last !== undefined && { last: state.last }) }
}

async function statusOf(upstream: CompiledUpstream, c: Context<AppEnv>): Promise<UpstreamStatus> {
  // Read as a request reads it (`client.ts`): a stale copy is refreshed in `waitUntil` when there is one.
  const shared = upstream.active ? await upstream.active.read(waitUntilOf(upstream, c)) : undefined
  const targets = upstream.targets.map((target, i): TargetStatus => {
    const status: TargetStatus = { id: target.id, target: target.label, weight: target.weight }
    const ejected = upstream.passive?.ejectedFor(target) ?? 0
    if (ejected > 0) status.ejectedForMs = ejected
    const breaker = upstream.breakers?.[i]
    if (breaker) {
      const state = breaker.current()
      status.breaker = state === 'open' ? { state, reopensInMs: breaker.reopensIn() } : { state }
    }
    if (upstream.active) status.health = healthOf(shared?.targets[target.id])
    return status
  })
  return {
    name: upstream.name,
    ...(upstream.fallback && { fallback: upstream.fallback.upstream !== undefined ? { upstream: upstream.fallback.upstream } : { status: upstream.fallback.status! } }),
    ...(upstream.active && { healthCheckedAt: isoOrNull(shared?.probedAt) }),
    targets,
  }
}

/** The state of this config's compiled upstreams, read for one admin request `c`. */
export function upstreamStatus(upstreams: ReadonlyMap<string, CompiledUpstream>): (c: Context<AppEnv>) => Promise<{ scope: typeof SCOPE; upstreams: UpstreamStatus[] }> {
  return async (c) => ({ scope: SCOPE, upstreams: await Promise.all([...upstreams.values()].map((u) => statusOf(u, c))) })
}
