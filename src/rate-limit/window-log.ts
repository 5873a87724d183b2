/**
 * @module
 * The in-memory mirror of a `RateLimiter`'s sliding-window log: per counter, the sorted times of
 * its admitted requests. SQLite stays the record (every admission is written through before the
 * answer leaves the object, and the mirror is rebuilt from it when the object starts), but the
 * decision — how many rows fall in the window, which is oldest, which frees next — is read here,
 * in O(1), instead of by a `count(*)` and an `ORDER BY ... OFFSET` over up to `limit` rows a call.
 *
 * Times equal to each other are interchangeable for counting, so a refund removes "one hit at
 * time t" without the mirror having to remember reservation ids.
 */

/** Expired entries are dropped from SQLite in batches of at least this many, not one per call. */
export const PRUNE_BATCH = 64

class Times {
  /** Ascending; entries before `head` have expired. */
  at: number[] = []
  head = 0

  get size(): number {
    return this.at.length - this.head
  }

  /** Drops entries at or before `since`; returns how many expired entries are waiting to be deleted in SQLite. */
  expire(since: number): number {
    const at = this.at
    while (this.head < at.length && at[this.head]! <= since) this.head++
    return this.head
  }

  /** The i-th live entry, oldest first. */
  nth(i: number): number | undefined {
    return this.at[this.head + i]
  }

  add(t: number): void {
    const at = this.at
    // The clock normally moves forward: append. A clock set back (tests) inserts in order.
    let i = at.length
    while (i > this.head && at[i - 1]! > t) i--
    if (i === at.length) at.push(t)
    else at.splice(i, 0, t)
  }

  remove(t: number): void {
    const i = this.at.lastIndexOf(t)
    if (i >= this.head) this.at.splice(i, 1)
  }

  /** Forgets the expired prefix once SQLite has deleted it. */
  compact(): void {
    if (this.head === 0) return
    this.at = this.at.slice(this.head)
    this.head = 0
  }
}

export class WindowLog {
  private counters = new Map<string, Times>()

  get(counter: string): Times | undefined {
    return this.counters.get(counter)
  }

  add(counter: string, at: number): void {
    let times = this.counters.get(counter)
    if (times === undefined) this.counters.set(counter, (times = new Times()))
    times.add(at)
  }

  remove(counter: string, at: number): void {
    this.counters.get(counter)?.remove(at)
  }

  clear(): void {
    this.counters.clear()
  }
}

export type { Times }
