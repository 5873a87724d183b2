/**
 * @module
 * Counts over a rolling window: the circuit breaker's requests and failures (its error ratio), the
 * retry budget's requests and retries. The window (`windowMs`) is a ring of 10 buckets; the
 * runtime's clock moves the current bucket on, and a count leaves the window when its bucket comes
 * round again. A total therefore covers the last 9 to 10 tenths of the window: coarse, but O(1) in
 * memory and time whatever the traffic, with no timer.
 *
 * Held by a breaker or a budget, so it lives as long as they do (per config, per isolate).
 */
import type { Runtime } from '../core/runtime'

const BUCKETS = 10

/** One count per name in each bucket: `new RollingWindow(['requests', 'failures'], 10_000, runtime)`. */
export class RollingWindow<Name extends string> {
  private readonly counts = {} as Record<Name, Uint32Array>
  private readonly bucketMs: number
  private bucket = 0
  /** When the current bucket began; 0 until the first count (the ring then starts at that time). */
  private bucketStart = 0

  constructor(
    names: readonly Name[],
    windowMs: number,
    private readonly runtime: Runtime,
  ) {
    for (const name of names) this.counts[name] = new Uint32Array(BUCKETS)
    this.bucketMs = Math.max(1, Math.ceil(windowMs / BUCKETS))
  }

  /** Counts one `name` now. */
  add(name: Name): void {
    this.roll()
    this.counts[name][this.bucket]!++
  }

  /** The count of `name` over the window as of now. */
  total(name: Name): number {
    this.roll()
    let sum = 0
    for (const count of this.counts[name]) sum += count
    return sum
  }

  /** Forgets every count; the ring starts again now. */
  clear(): void {
    for (const name in this.counts) this.counts[name].fill(0)
    this.bucketStart = this.runtime.now()
  }

  /** Advances the ring to now, emptying the buckets it moves onto. */
  private roll(): void {
    const now = this.runtime.now()
    if (this.bucketStart === 0) this.bucketStart = now
    const steps = Math.floor((now - this.bucketStart) / this.bucketMs)
    if (steps <= 0) return
    for (let i = 0; i < Math.min(steps, BUCKETS); i++) {
      this.bucket = (this.bucket + 1) % BUCKETS
      for (const name in this.counts) this.counts[name][this.bucket] = 0
    }
    this.bucketStart += steps * this.bucketMs
  }
}
