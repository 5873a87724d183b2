/**
 * @module
 * The isolate's side of leases (`mode: "lease"`, see `./lease-ledger` and `./quota-leases` for the
 * object's): a request spends a unit of a lease this isolate holds for its key, with no round trip
 * to the `RateLimiter` object. Per key and set of checks, an `Allowance`:
 * - spends from its leases, each usable from when it was ASKED for (not answered) until a safety
 *   margin before its duration ends, so a slow answer or a drifting clock can't stretch it;
 * - tops up in the background (`waitUntil`) when what is left won't last at the recent rate,
 *   asking for about twice what it spent since its last ask, and reports what it spent (grouped
 *   in steps of 1/200 of the shortest window, as offsets from each lease's ask, see
 *   `reportStepMs`) on every ask;
 * - with nothing left, asks and waits: the others wait for that answer, unless the key is near its
 *   limit: then each request asks for its own unit, in parallel (the exact path);
 * - after a denial, answers 429 itself until min(T, 5 s), T being when the object said units come
 *   back, so a reset or a plan upgrade is seen within 5 s;
 * - gives a unit back to its lease when another object denied the request.
 * An ask that fails never loses a count: the leases whose reports it carried report nothing more,
 * and the object keeps their units until lease end + window.
 *
 * State lives per gateway (one `LeaseCache` per config, so per isolate and per config version): a
 * config reload starts afresh, and the old leases' units stay held until their end + window.
 */
import type { LeaseAsk, LeaseReport, LeaseResult, LimitCheck, LimitDecision } from './limiter-rpc'

/** The longest an isolate answers 429 itself before asking the object again. */
export const LOCAL_DENIAL_MS = 5000
/**
 * Spends are reported in steps of this share of the shortest window, their offsets rounded UP: a
 * unit then counts at the object at most one step longer than it must, never shorter, so no
 * window admits more. What it buys: a busy key's report has at most one entry per step instead of
 * one per millisecond, and the object writes that many rows (at 3,000 requests a second on a 1 s
 * window, ~50 rows a lease instead of ~225). What it costs: units spent in the last step before a
 * window's edge free up to one step late, at most 1/200 of the limit (docs/rate-limits.md).
 */
const REPORT_STEPS_PER_WINDOW = 200

/** The step spends are reported in for these checks: 1/200 of the shortest window, at least 1 ms. */
export function reportStepMs(checks: LimitCheck[]): number {
  let shortest = Infinity
  for (const check of checks) if (check.kind === 'window') shortest = Math.min(shortest, check.windowMs)
  return shortest === Infinity ? 1 : Math.max(1, Math.floor(shortest / REPORT_STEPS_PER_WINDOW))
}

/** Allowances one gateway keeps; the oldest is dropped (its leases just run out). */
const MAX_ALLOWANCES = 1024

type Lease = {
  id: string
  askedAt: number
  usableUntil: number
  granted: number
  spent: number
  /** Spends not reported yet: offset from `askedAt` -> units. */
  unreported: Map<number, number>
  /** An ask carrying a report of this lease failed: report nothing more, the object holds it all. */
  silent: boolean
}

/** A unit taken for a request: its decisions for the headers, and how to give it back. */
export type Taken =
  | { allowed: true; decisions: LimitDecision[]; giveBack(): boolean | Promise<boolean> }
  | { allowed: false; decisions: LimitDecision[] }
  /** The ask this request waited for failed; `refund` gives back whatever the object may still grant. */
  | { failed: unknown; refund(): Promise<number> }

/** The key's object, with the policy's timeout: a call rejects (or answers `error`) on failure. */
export type LimiterLink = {
  lease(ask: LeaseAsk): Promise<LeaseResult>
  /** Gives back a unit granted on the exact path; resolves to the units refunded, -1 on failure. */
  refund(id: string): Promise<number>
}

type Clock = { now(): number; randomId(): string }

export class Allowance {
  /**
   * @param cost units each request takes (`cost`): an allowance serves one policy's requests.
   * @param stepMs spends are reported rounded up to this (`reportStepMs`).
   */
  constructor(
    private readonly cost = 1,
    private readonly stepMs = 1,
  ) {}

  private leases: Lease[] = []
  private inFlight: Promise<unknown> | undefined
  private spentSinceAsk = 0
  /** Requests waiting for the ask in flight: the next ask wants units for them too. */
  private waiting = 0
  /**
   * The last answer had no units to spare (one unit for its request, or none): near the limit,
   * each request asks for itself, in parallel, as on the exact path, instead of queueing behind
   * one ask a round trip at a time.
   */
  private nearLimit = false
  /** A round trip to the object, smoothed: a locally denied request asks this much before units come back. */
  private roundTrip = 0
  /** An ask carrying reports is in flight: the next carries none, so a final report never overtakes a partial one. */
  private reporting = false
  /** The object's last decisions, when they came, and the units it left others then. */
  private known: { decisions: LimitDecision[]; at: number } | undefined
  private denied: { until: number; freeAt: number } | undefined

  /**
   * A unit for a request from what this isolate knows now, with no promise: from a lease (topping
   * up in the background when running low), or a local denial. Undefined when the request would
   * have to wait for an ask: `take` then. What the first turn of `take` does, for the policy's
   * synchronous path.
   */
  takeNow(clock: Clock, link: () => LimiterLink, background: (work: Promise<unknown>) => void): Taken | undefined {
    const now = clock.now()
    const local = this.spend(now)
    if (local) {
      if (this.inFlight === undefined && this.runningLow(now)) background(this.ask(clock, link(), 0).catch(() => undefined))
      return local
    }
    if (this.denied && now < this.denied.until) return this.denial(now)
    return undefined
  }

  /** A unit for a request: from a lease, a local denial, or an ask the request waits for. */
  async take(clock: Clock, link: LimiterLink, background: (work: Promise<unknown>) => void): Promise<Taken> {
    for (;;) {
      const now = clock.now()
      const local = this.spend(now)
      if (local) {
        if (this.inFlight === undefined && this.runningLow(now)) background(this.ask(clock, link, 0).catch(() => undefined))
        return local
      }
      if (this.denied && now < this.denied.until) return this.denial(now)
      if (this.inFlight === undefined || this.nearLimit) {
        const asked = await this.askFor(clock, link)
        // A lease came, but the requests woken before this one spent it: look again.
        if (asked !== undefined) return asked
        continue
      }
      // Someone is asking already: its answer may have units for this request too.
      this.waiting++
      await this.inFlight.catch(() => undefined)
      this.waiting--
    }
  }

  /** Asks for this request's unit (and a lease beside it); undefined when the lease came but was spent by others first. */
  private async askFor(clock: Clock, link: LimiterLink): Promise<Taken | undefined> {
    const id = clock.randomId()
    let answer: LeaseResult
    try {
      answer = await this.ask(clock, link, this.cost, id)
    } catch (failed) {
      return { failed, refund: () => link.refund(id) }
    }
    const now = clock.now()
    // Denied, but an ask that ran beside this one may have brought a lease: spend from it first,
    // so units parked in this isolate's own leases are never what denies it.
    if (!answer.allowed) return this.spend(now) ?? { allowed: false, decisions: answer.decisions }
    if (answer.durationMs === 0) {
      // The exact path: the object counted this request's unit already.
      this.spentSinceAsk += this.cost
      const refund = () => link.refund(answer.id).then((units) => units >= 0, () => false)
      return { allowed: true, decisions: this.estimate(now), giveBack: refund }
    }
    return this.spend(now)
  }

  /** Units left in usable leases. */
  unspent(now: number): number {
    let left = 0
    for (const lease of this.leases) if (now < lease.usableUntil) left += lease.granted - lease.spent
    return left
  }

  private spend(now: number): Taken | undefined {
    const cost = this.cost
    const lease = this.leases.find((l) => now < l.usableUntil && l.granted - l.spent >= cost)
    if (!lease) return undefined
    // Rounded up: reported later than spent counts a unit longer, never shorter (REPORT_STEPS_PER_WINDOW).
    const step = this.stepMs
    const offset = Math.ceil(Math.max(0, now - lease.askedAt) / step) * step
    lease.spent += cost
    lease.unreported.set(offset, (lease.unreported.get(offset) ?? 0) + cost)
    this.spentSinceAsk += cost
    const giveBack = () => {
      const units = lease.unreported.get(offset) ?? 0
      // Reported already (or the lease is gone): the units stay counted, an over-count.
      if (units < cost || !this.leases.includes(lease)) return false
      if (units === cost) lease.unreported.delete(offset)
      else lease.unreported.set(offset, units - cost)
      lease.spent -= cost
      this.spentSinceAsk = Math.max(0, this.spentSinceAsk - cost)
      return true
    }
    return { allowed: true, decisions: this.estimate(now), giveBack }
  }

  /**
   * What is left won't last until an answer could come: at the recent rate, less than half a
   * lease; or the last lease with units left is in its second half (its units would outlive it).
   * The last, not the one being spent: once a top-up has brought a newer lease, an older one in
   * its second half is no reason to ask again (that asked on every other request of it).
   */
  private runningLow(now: number): boolean {
    const left = this.unspent(now)
    if (left * 2 <= this.spentSinceAsk) return true
    if (this.spentSinceAsk < 2) return false
    for (let i = this.leases.length - 1; i >= 0; i--) {
      const lease = this.leases[i]!
      if (now < lease.usableUntil && lease.granted - lease.spent >= this.cost) return (lease.usableUntil - now) * 2 < lease.usableUntil - lease.askedAt
    }
    return false
  }

  /** One ask, carrying the reports; its answer's lease joins the others. */
  private ask(clock: Clock, link: LimiterLink, need: number, id = clock.randomId()): Promise<LeaseResult> {
    const askedAt = clock.now()
    const reports = this.reporting ? [] : this.takeReports(askedAt)
    if (reports.length > 0) this.reporting = true
    // No recent rate (a first request): only the unit needed, the exact path; then twice the rate.
    const want = Math.min(1e9, Math.max(1, 2 * this.spentSinceAsk + need + this.waiting * this.cost))
    this.spentSinceAsk = 0
    const work = link.lease({ id, need, want, reports }).then(
      (answer) => {
        if (answer.error !== undefined) {
          this.silence(reports)
          throw new Error(answer.error)
        }
        const now = clock.now()
        this.roundTrip = this.roundTrip === 0 ? now - askedAt : (this.roundTrip * 7 + (now - askedAt)) / 8
        this.known = { decisions: answer.decisions, at: now }
        this.nearLimit = !(answer.allowed && answer.durationMs > 0)
        if (answer.allowed) this.denied = undefined
        else {
          // Set here, before anyone waiting on this ask looks: they are denied locally too. Asking
          // again a round trip early lands the ask at the object about when the units come back.
          const freeIn = Math.max(1, ...answer.decisions.filter((d) => !d.allowed).map((d) => d.retryAfterMs))
          this.denied = { until: now + Math.min(freeIn - this.roundTrip, LOCAL_DENIAL_MS), freeAt: now + freeIn }
        }
        if (answer.granted > 0 && answer.durationMs > 0) {
          const margin = Math.max(1, Math.floor(answer.durationMs / 10))
          this.leases.push({ id: answer.id, askedAt, usableUntil: askedAt + answer.durationMs - margin, granted: answer.granted, spent: 0, unreported: new Map(), silent: false })
        }
        return answer
      },
      (err: unknown) => {
        this.silence(reports)
        throw err
      },
    )
    const settled = work.catch(() => undefined)
    this.inFlight = settled
    void settled.finally(() => {
      if (this.inFlight === settled) this.inFlight = undefined
      if (reports.length > 0) this.reporting = false
    })
    return work
  }

  /**
   * The reports for the next ask: every lease's unreported spends, and a final report of each
   * lease that can't be spent from any more (which then leaves this allowance).
   */
  private takeReports(now: number): LeaseReport[] {
    const reports: LeaseReport[] = []
    const kept: Lease[] = []
    for (const lease of this.leases) {
      const done = now >= lease.usableUntil || lease.granted - lease.spent < this.cost
      if (!lease.silent && (done || lease.unreported.size > 0)) {
        reports.push({ id: lease.id, spent: [...lease.unreported], final: done })
        lease.unreported = new Map()
      }
      if (!done) kept.push(lease)
    }
    this.leases = kept
    return reports
  }

  /** An ask carrying these reports failed: the object may or may not have applied them, so those leases go quiet. */
  private silence(reports: LeaseReport[]): void {
    for (const report of reports) {
      const lease = this.leases.find((l) => l.id === report.id)
      if (lease) lease.silent = true
    }
  }

  /** The object's decisions brought forward: the `r` a client sees counts this isolate's unspent units too. */
  private estimate(now: number): LimitDecision[] {
    if (!this.known) return []
    const elapsed = now - this.known.at
    const ours = this.unspent(now)
    return this.known.decisions.map((d) => ({ ...d, allowed: true, remaining: d.remaining + ours, resetMs: Math.max(0, d.resetMs - elapsed), retryAfterMs: 0 }))
  }

  private denial(now: number): Taken {
    return { allowed: false, decisions: this.denialDecisions(now, this.denied!.freeAt - now) }
  }

  private denialDecisions(now: number, retryAfterMs: number): LimitDecision[] {
    const elapsed = this.known ? now - this.known.at : 0
    return (this.known?.decisions ?? []).map((d) => ({
      ...d,
      remaining: 0,
      resetMs: Math.max(1, d.resetMs - elapsed),
      retryAfterMs: d.allowed ? 0 : Math.max(1, retryAfterMs),
    }))
  }
}

/** A gateway's allowances, by binding, key and checks. */
export class LeaseCache {
  private readonly allowances = new Map<string, Allowance>()

  /**
   * The allowance for `id`, made on first use with its report step from `checks`. `id` names the
   * key and its checks, so one id always comes with the same cost and checks.
   */
  allowance(id: string, cost: number, checks: LimitCheck[]): Allowance {
    let found = this.allowances.get(id)
    if (found === undefined) {
      if (this.allowances.size >= MAX_ALLOWANCES) this.allowances.delete(this.allowances.keys().next().value!)
      this.allowances.set(id, (found = new Allowance(cost, reportStepMs(checks))))
    }
    return found
  }
}
