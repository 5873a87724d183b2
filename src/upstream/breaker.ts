/**
 * @module
 * A circuit breaker per target:
 *
 *   closed --(failures in a row >= `failures`, or error ratio >= `errorRatio` over `window` with at
 *             least `minRequests`)--> open --(after `openMs`)--> half-open
 *   half-open: admits `halfOpenRequests` probes at once; a failed probe re-opens the circuit (for
 *             `openMs` again); once that many probes have passed, it closes.
 *
 * While open, the target is skipped (fail over to another one), or with `whenOpen: "fail-fast"`
 * the request is answered 503 at once; either way the target is not touched.
 *
 * State is per isolate, in memory. Cloudflare runs many isolates (one or more per data centre
 * that sees traffic), so each trips on what it sees itself: no coordination cost and no extra
 * subrequest on the hot path, and a failure local to one data centre (its route to the origin)
 * trips only there. The price: a global outage is learnt once per isolate (each pays `failures`
 * failed requests, or `minRequests`), and a new isolate starts closed. Shared, edge-wide health is
 * what the active health check's Durable Object provides; the breaker is the fast, local reflex.
 */
import { systemRuntime, type Runtime } from '../core/runtime'
import { RollingWindow } from './rolling-window'

export type BreakerConfig = {
  failures?: number | undefined
  errorRatio?: number | undefined
  window: number
  minRequests: number
  openMs: number
  halfOpenRequests: number
}

export type BreakerState = 'closed' | 'open' | 'half-open'

export class CircuitBreaker {
  private state: BreakerState = 'closed'
  private openedAt = 0
  private consecutive = 0
  private probesInFlight = 0
  private probesPassed = 0
  /** Requests and failures over the last `window` ms, for the error ratio. */
  private readonly counts: RollingWindow<'requests' | 'failed'>
  private readonly failures: number | undefined

  constructor(
    private readonly config: BreakerConfig,
    private readonly runtime: Runtime = systemRuntime,
  ) {
    this.counts = new RollingWindow(['requests', 'failed'], config.window, runtime)
    // Neither threshold set: the common default of five failures in a row.
    this.failures = config.failures ?? (config.errorRatio === undefined ? 5 : undefined)
  }

  /** The state now (open turns half-open once `openMs` has passed). */
  current(): BreakerState {
    if (this.state === 'open' && this.runtime.now() - this.openedAt >= this.config.openMs) {
      this.state = 'half-open'
      this.probesInFlight = 0
      this.probesPassed = 0
    }
    return this.state
  }

  /** Whether a request may go now, without taking a slot. */
  canPass(): boolean {
    const state = this.current()
    return state === 'closed' || (state === 'half-open' && this.probesInFlight < this.config.halfOpenRequests)
  }

  /** Takes a slot for a request that will be sent; false when it may not go. */
  acquire(): boolean {
    if (!this.canPass()) return false
    if (this.state === 'half-open') this.probesInFlight++
    return true
  }

  /**
   * Gives back a slot that `acquire` took for a try that ended without an outcome (the client left,
   * an aggregation deadline or a failed sibling aborted it): counted neither as a success nor as a
   * failure, it frees the half-open probe slot so a later request can probe.
   */
  release(): void {
    if (this.current() === 'half-open') this.probesInFlight = Math.max(0, this.probesInFlight - 1)
  }

  /**
   * Reports the outcome of a request that `acquire` let through. True when this outcome opened the
   * circuit (closed or half-open -> open): exactly one outcome is told so per transition, which the
   * metrics count (`breakerOpens` in the call's log).
   */
  record(ok: boolean): boolean {
    const state = this.current()
    if (state === 'half-open') {
      this.probesInFlight = Math.max(0, this.probesInFlight - 1)
      if (!ok) return this.open()
      if (++this.probesPassed >= this.config.halfOpenRequests) this.close()
      return false
    }
    if (state === 'open') return false // a late answer from before it opened
    this.counts.add('requests')
    if (ok) {
      this.consecutive = 0
      return false
    }
    this.counts.add('failed')
    this.consecutive++
    if (this.failures !== undefined && this.consecutive >= this.failures) return this.open()
    if (this.config.errorRatio !== undefined) {
      const total = this.counts.total('requests')
      const bad = this.counts.total('failed')
      if (total >= this.config.minRequests && bad / total >= this.config.errorRatio) return this.open()
    }
    return false
  }

  /** Milliseconds until an open circuit half-opens (0 unless open). */
  reopensIn(): number {
    return this.current() === 'open' ? this.openedAt + this.config.openMs - this.runtime.now() : 0
  }

  /** Opens the circuit; true, for `record` to return. */
  private open(): true {
    this.state = 'open'
    this.openedAt = this.runtime.now()
    this.consecutive = 0
    this.counts.clear()
    return true
  }

  private close(): void {
    this.state = 'closed'
    this.consecutive = 0
    this.counts.clear()
  }
}
