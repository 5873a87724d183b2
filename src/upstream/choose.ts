/**
 * @module
 * Which target a try of a call goes to (`client.ts` sends it): among the targets that may be tried
 * (weighted, healthy in the shared state, not ejected by passive health, their circuit not open),
 * the sticky one, else the balancer's choice; a retry prefers targets not tried yet; a hedge
 * (`./hedge`) goes only to a target whose breaker is closed. When none may be tried: a 503.
 */
import { GatewayError } from '../core/errors'
import type { HealthSnapshot } from './health-checker'
import type { Target } from './pool'
import type { CompiledUpstream } from './upstream'

/** The target for this try: the sticky one if still available, else the balancer's choice. */
export function chooseTarget(
  upstream: CompiledUpstream,
  shared: HealthSnapshot | undefined,
  sticky: Target | undefined,
  key: string | undefined,
  previous: Target | undefined,
  tried: Set<Target>,
): Target | undefined {
  // Fail-fast answers the first try 503 rather than skip an open target; a retry just skips it.
  let candidates = availableTargets(upstream, shared, upstream.failFast && !previous)
  if (sticky && candidates.includes(sticky)) return sticky
  if (previous) {
    // Prefer targets not tried yet; never the same one twice in a row while another exists.
    const fresh = candidates.filter((t) => !tried.has(t))
    if (fresh.length > 0) candidates = fresh
    else if (candidates.length > 1) candidates = candidates.filter((t) => t !== previous)
  }
  return upstream.balancer.pick(candidates, key)
}

/** Targets that may be tried: weighted, healthy, not ejected, their circuit not open (unless `anyCircuit`). */
function availableTargets(upstream: CompiledUpstream, shared: HealthSnapshot | undefined, anyCircuit: boolean): Target[] {
  return upstream.targets.filter((t) => {
    if (t.weight <= 0) return false
    const state = shared?.targets[t.id]
    if (state && !state.healthy) return false
    if (upstream.passive && !upstream.passive.available(t, state?.okAt)) return false
    return anyCircuit || !upstream.breakers || upstream.breakers[t.index]!.canPass()
  })
}

/**
 * Whether, with no target to try, some target would have been tried but for its open circuit:
 * the breakers, not health or weights, refused the call. Asked only on that failing path.
 */
export function refusedByCircuits(upstream: CompiledUpstream, shared: HealthSnapshot | undefined): boolean {
  return availableTargets(upstream, shared, true).length > 0
}

/** 503 when no target may be tried; `Retry-After` says when the first one may be back. */
export function unavailable(upstream: CompiledUpstream): GatewayError {
  const waits = [upstream.passive?.nextReturnIn() ?? 0, ...(upstream.breakers ?? []).map((b) => b.reopensIn())].filter((ms) => ms > 0)
  const seconds = waits.length > 0 ? Math.ceil(Math.min(...waits) / 1000) : 5
  return new GatewayError('ERR_UPSTREAM_UNAVAILABLE', {
    detail: 'No healthy upstream target is available.',
    headers: { 'Retry-After': String(Math.max(1, seconds)) },
  })
}

/**
 * A target for a hedge: available, its breaker closed (not open, nor half-open: a probe is not
 * doubled), and not already racing, unless the upstream is a single origin.
 */
export function hedgeTarget(upstream: CompiledUpstream, shared: HealthSnapshot | undefined, key: string | undefined, racing: ReadonlySet<Target>): Target | undefined {
  const single = upstream.targets.length === 1
  const candidates = availableTargets(upstream, shared, false).filter(
    (t) => (single || !racing.has(t)) && (!upstream.breakers || upstream.breakers[t.index]!.current() === 'closed'),
  )
  return upstream.balancer.pick(candidates, key)
}
