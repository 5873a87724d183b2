/**
 * @module
 * The in-memory mirror of a `RateLimiter`'s sliding-window log: per counter, the sorted times of
 * its entries, each with a weight (the units it holds). SQLite stays the record (every entry is
 * written through before the answer leaves the object, and the mirror is rebuilt from it when the
 * object starts), but the decision — how many units fall in the window, which is oldest, when
 * enough free up — is read here instead of by a `sum()` and a scan over up to `limit` rows a call.
 *
 * An entry is one admitted request (weight 1), a batch of units a lease reported spent at one
 * time, or a lease's unreported units (flagged `leased`, timed at the lease's end so they stay
 * counted until lease end + window). Weights, not a row per unit, keep large leases cheap.
 * Entries with equal time, weight and flag are interchangeable, so a refund removes "one entry
 * like this" without the mirror having to remember reservation ids.
 */

import type { LimitDecision, WindowCheck } from './limiter-rpc'

/** Expired entries are dropped from SQLite in batches of at least this many, not one per call. */
export const PRUNE_BATCH = 64

class Times {
  /** Ascending; entries before `head` have expired. */
  at: number[] = []
  weight: number[] = []
  leased: boolean[] = []
  head = 0
  /** Units held by the live entries. */
  units = 0
  /** Units held by the live entries of unreported leases. */
  leasedUnits = 0

  /** Live entries (not units). */
  get entries(): number {
    return this.at.length - this.head
  }

  /** Drops entries at or before `since`; returns how many expired entries are waiting to be deleted in SQLite. */
  expire(since: number): number {
    const at = this.at
    while (this.head < at.length && at[this.head]! <= since) {
      this.units -= this.weight[this.head]!
      if (this.leased[this.head]) this.leasedUnits -= this.weight[this.head]!
      this.head++
    }
    return this.head
  }

  /** The oldest live entry's time. */
  oldest(): number | undefined {
    return this.at[this.head]
  }

  /**
   * The time of the entry whose expiry leaves at most `keep` units live (entries expire oldest
   * first), or undefined when that many are live already.
   */
  freeingAt(keep: number): number | undefined {
    let excess = this.units - keep
    for (let i = this.head; i < this.at.length && excess > 0; i++) {
      excess -= this.weight[i]!
      if (excess <= 0) return this.at[i]
    }
    return undefined
  }

  add(t: number, weight = 1, leased = false): void {
    const at = this.at
    // The clock normally moves forward: append. Lease entries (timed at the lease's end) and a
    // clock set back (tests) insert in order.
    let i = at.length
    while (i > this.head && at[i - 1]! > t) i--
    at.splice(i, 0, t)
    this.weight.splice(i, 0, weight)
    this.leased.splice(i, 0, leased)
    this.units += weight
    if (leased) this.leasedUnits += weight
  }

  remove(t: number, weight = 1, leased = false): void {
    for (let i = this.at.length - 1; i >= this.head; i--) {
      if (this.at[i] !== t || this.weight[i] !== weight || this.leased[i] !== leased) continue
      this.at.splice(i, 1)
      this.weight.splice(i, 1)
      this.leased.splice(i, 1)
      this.units -= weight
      if (leased) this.leasedUnits -= weight
      return
    }
  }

  /** Forgets the expired prefix once SQLite has deleted it. */
  compact(): void {
    if (this.head === 0) return
    this.at = this.at.slice(this.head)
    this.weight = this.weight.slice(this.head)
    this.leased = this.leased.slice(this.head)
    this.head = 0
  }
}

/** Whether `need` more units fit in `check`'s window now (the mirror expired to it), and if not, when they will. */
export function decideWindow(times: Times | undefined, check: WindowCheck, now: number, need: number): LimitDecision {
  const count = times?.units ?? 0
  const oldest = times?.oldest()
  const base = { id: check.id, limit: check.limit, windowMs: check.windowMs }
  if (count + need <= check.limit) {
    const resetMs = oldest !== undefined ? Math.max(0, oldest + check.windowMs - now) : 0
    return { ...base, allowed: true, remaining: check.limit - count, resetMs, retryAfterMs: 0 }
  }
  // `need` more fit once all but limit-need of the counted units have expired.
  const freeing = times?.freeingAt(check.limit - need)
  const retryAfterMs = Math.max(1, (freeing ?? now) + check.windowMs - now)
  const resetMs = oldest !== undefined ? Math.max(1, oldest + check.windowMs - now) : retryAfterMs
  return { ...base, allowed: false, remaining: Math.max(0, check.limit - count), resetMs, retryAfterMs }
}

export class WindowLog {
  private counters = new Map<string, Times>()

  get(counter: string): Times | undefined {
    return this.counters.get(counter)
  }

  add(counter: string, at: number, weight = 1, leased = false): void {
    let times = this.counters.get(counter)
    if (times === undefined) this.counters.set(counter, (times = new Times()))
    times.add(at, weight, leased)
  }

  remove(counter: string, at: number, weight = 1, leased = false): void {
    this.counters.get(counter)?.remove(at, weight, leased)
  }

  clear(): void {
    this.counters.clear()
  }
}

export type { Times }
