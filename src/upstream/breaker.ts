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

export type BreakerConfig = {
  failures?: number | undefined
  errorRatio?: number | undefined
  window: number
  minRequests: number
  openMs: number
  halfOpenRequests: number
}

export type BreakerState = 'closed' | 'open' | 'half-open'

const BUCKETS = 10

export class CircuitBreaker {
  private state: BreakerState = 'closed'
  private openedAt = 0
  private consecutive = 0
  private probesInFlight = 0
  private probesPassed = 0
  /** Ring of per-bucket counts over the window (requests, failures). */
  private readonly requests = new Uint32Array(BUCKETS)
  private readonly failed = new Uint32Array(BUCKETS)
  private bucketStart = 0
  private bucket = 0
  private readonly bucketMs: number
  private readonly failures: number | undefined

  constructor(
    private readonly config: BreakerConfig,
    private readonly runtime: Runtime = systemRuntime,
  ) {
    this.bucketMs = Math.max(1, Math.ceil(config.window / BUCKETS))
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

  /** Reports the outcome of a request that `acquire` let through. */
  record(ok: boolean): void {
    const state = this.current()
    if (state === 'half-open') {
      this.probesInFlight = Math.max(0, this.probesInFlight - 1)
      if (!ok) return this.open()
      if (++this.probesPassed >= this.config.halfOpenRequests) this.close()
      return
    }
    if (state === 'open') return // a late answer from before it opened
    this.roll()
    this.requests[this.bucket]!++
    if (ok) {
      this.consecutive = 0
      return
    }
    this.failed[this.bucket]!++
    this.consecutive++
    if (this.failures !== undefined && this.consecutive >= this.failures) return this.open()
    if (this.config.errorRatio !== undefined) {
      let total = 0
      let bad = 0
      for (let i = 0; i < BUCKETS; i++) (total += this.requests[i]!), (bad += this.failed[i]!)
      if (total >= this.config.minRequests && bad / total >= this.config.errorRatio) this.open()
    }
  }

  /** Milliseconds until an open circuit half-opens (0 unless open). */
  reopensIn(): number {
    return this.current() === 'open' ? this.openedAt + this.config.openMs - this.runtime.now() : 0
  }

  private open(): void {
    this.state = 'open'
    this.openedAt = this.runtime.now()
    this.consecutive = 0
    this.requests.fill(0)
    this.failed.fill(0)
  }

  private close(): void {
    this.state = 'closed'
    this.consecutive = 0
    this.requests.fill(0)
    this.failed.fill(0)
    this.bucketStart = this.runtime.now()
  }

  /** Advances the window's ring to now, clearing buckets that fell out of it. */
  private roll(): void {
    const now = this.runtime.now()
    if (this.bucketStart === 0) this.bucketStart = now
    const steps = Math.floor((now - this.bucketStart) / this.bucketMs)
    if (steps <= 0) return
    for (let i = 0; i < Math.min(steps, BUCKETS); i++) {
      this.bucket = (this.bucket + 1) % BUCKETS
      this.requests[this.bucket] = 0
      this.failed[this.bucket] = 0
    }
    this.bucketStart += steps * this.bucketMs
  }
}
