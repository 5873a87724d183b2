/**
 * @module
 * The object's side of leases (see `./leases` for the isolate's): how a `RateLimiter` records
 * what it leased and what it was told was spent, and how big a lease may be.
 *
 * The rule that keeps every window exact: a unit stays counted until the object knows when it was
 * spent, plus the window. A lease is one `hits` row per counter, weighted with its unreported
 * units and timed at the lease's END, so those units count from the grant until lease end +
 * window — as if each were spent at the last moment it could be. A report replaces units of that
 * row with rows at the latest time each can have been spent: `grantedAt + offset` (the isolate
 * timed the offset from its ask, which came before the grant), never later than now or the end.
 * A final report frees the units never spent. A lease never reported (isolate evicted) keeps all
 * its units until lease end + window.
 */
import type { LeaseAsk, LeaseReport, LeaseResult, LimitCheck, LimitDecision, QuotaCheck, WindowCheck } from './limiter-rpc'
import { periodBounds } from './periods'
import { quotaLossBound, quotaParked, recordQuotaUnits, settleQuotaReport } from './quota-leases'
import type { WindowLog } from './window-log'

/** The longest lease: short enough that an admin reset or a plan change is seen soon. */
export const MAX_LEASE_MS = 10_000
/**
 * B: the share of a limit that may sit in unreported leases, beyond what waiting requests need.
 * Units a lease parks and never spends are the only under-admission leases add, so it is at most
 * floor(limit * LEASE_SHARE) units a window (docs/rate-limits.md).
 */
export const LEASE_SHARE = 0.1

export const leaseTag = (id: string) => `L:${id}`

/** A lease lasts at most a quarter of the shortest window it covers, and MAX_LEASE_MS; never past a quota's period. */
export function leaseDuration(windows: WindowCheck[], quotas: QuotaCheck[] = [], now = 0): number {
  const periodEnds = quotas.map((q) => periodBounds(q.period, now)[1] - now)
  return Math.max(1, Math.min(MAX_LEASE_MS, ...windows.map((c) => Math.floor(c.windowMs / 4)), ...periodEnds))
}

/** B for one limit: the units that may be parked in leases. */
export const parkedBound = (limit: number) => Math.floor(limit * LEASE_SHARE)

/**
 * Units to grant beyond `need`: what was asked, at most half of what is left after `need` (so a
 * key near its limit gets exactly `need`: one unit per request, the exact path), and only while
 * the units parked in leases stay within B.
 */
export function extraUnits(want: number, need: number, limits: { remaining: number; parked: number; bound: number }[]): number {
  let extra = want - need
  for (const { remaining, parked, bound } of limits) {
    extra = Math.min(extra, Math.floor((remaining - need) / 2), bound - parked)
  }
  return Math.max(0, extra)
}

type Sql = SqlStorage

/**
 * Applies reports: spent units move from the lease row to rows at their spend times, a final
 * report frees the rest. Reports of unknown leases (expired, or from before a reset) are ignored.
 */
export function settleReports(sql: Sql, log: WindowLog, reports: LeaseReport[], now: number): void {
  for (const report of reports) {
    const lease = sql.exec<{ grantedAt: number; endsAt: number }>('SELECT granted_at AS grantedAt, ends_at AS endsAt FROM leases WHERE id = ?', report.id).toArray()[0]
    if (!lease) continue
    const latest = Math.min(now, lease.endsAt)
    // `reservation <> ''` lets SQLite use the partial index `hits_held`: without it this scans every hit.
    const rows = sql.exec<{ row: number; counter: string; at: number; weight: number; expires: number }>(
      "SELECT rowid AS row, counter, at, weight, expires FROM hits WHERE reservation = ? AND reservation <> ''",
      leaseTag(report.id),
    )
    for (const row of rows.toArray()) {
      const windowMs = row.expires - row.at
      let left = row.weight
      for (const [offset, units] of report.spent) {
        const take = Math.min(units, left)
        if (take <= 0) continue
        left -= take
        const at = Math.max(lease.grantedAt, Math.min(lease.grantedAt + offset, latest))
        if (at + windowMs <= now) continue
        sql.exec("INSERT INTO hits (counter, at, expires, reservation, weight) VALUES (?, ?, ?, '', ?)", row.counter, at, at + windowMs, take)
        log.add(row.counter, at, take)
      }
      log.remove(row.counter, row.at, row.weight, true)
      if (report.final || left === 0) {
        sql.exec('DELETE FROM hits WHERE rowid = ?', row.row)
      } else {
        sql.exec('UPDATE hits SET weight = ? WHERE rowid = ?', left, row.row)
        log.add(row.counter, row.at, left, true)
      }
    }
    settleQuotaReport(sql, report)
    if (report.final) sql.exec('DELETE FROM leases WHERE id = ?', report.id)
  }
}

/** Records a lease of `units` on every window check: one row per counter, timed at the lease's end. */
export function recordLease(sql: Sql, log: WindowLog, id: string, checks: WindowCheck[], units: number, endsAt: number): number {
  let idleAt = endsAt
  for (const check of checks) {
    sql.exec('INSERT INTO hits (counter, at, expires, reservation, weight) VALUES (?, ?, ?, ?, ?)', check.id, endsAt, endsAt + check.windowMs, leaseTag(id), units)
    log.add(check.id, endsAt, units, true)
    idleAt = Math.max(idleAt, endsAt + check.windowMs)
  }
  return idleAt
}

/** One admitted request (of `units`) on every check, under `reservation`; returns when the last expires. */
export function recordHits(sql: Sql, log: WindowLog, checks: WindowCheck[], reservation: string, now: number, units: number): number {
  let idleAt = now
  for (const check of checks) {
    sql.exec('INSERT INTO hits (counter, at, expires, reservation, weight) VALUES (?, ?, ?, ?, ?)', check.id, now, now + check.windowMs, reservation, units)
    log.add(check.id, now, units)
    idleAt = Math.max(idleAt, now + check.windowMs)
  }
  return idleAt
}

/**
 * Grants `ask` on `checks` (reports settled already, inside the caller's transaction): `need`
 * units or nothing (denied, with when they'll be back), plus what `extraUnits` allows of `want`.
 * `idleAt`: when what it wrote expires (0: nothing written).
 */
export function grantLease(sql: Sql, log: WindowLog, checks: LimitCheck[], ask: LeaseAsk, now: number, peek: (check: LimitCheck) => LimitDecision): LeaseResult & { idleAt: number } {
  const decisions = checks.map(peek)
  if (!decisions.every((d) => d.allowed)) return { allowed: false, id: '', granted: 0, durationMs: 0, decisions, idleAt: 0 }
  const windows = checks.filter((c): c is WindowCheck => c.kind === 'window')
  const quotas = checks.filter((c): c is QuotaCheck => c.kind === 'quota')
  const limits = checks.map((check, i) => ({
    remaining: decisions[i]!.remaining,
    ...(check.kind === 'window'
      ? { parked: log.get(check.id)?.leasedUnits ?? 0, bound: parkedBound(check.limit) }
      : { parked: quotaParked(sql, check, now), bound: quotaLossBound(check.limit) }),
  }))
  const asked = extraUnits(ask.want, ask.need, limits)
  // Whole requests only: units a request of this cost can't use would just sit parked.
  const extra = ask.need > 1 ? Math.floor(asked / ask.need) * ask.need : asked
  const granted = ask.need + extra
  if (granted === 0) return { allowed: true, id: '', granted: 0, durationMs: 0, decisions, idleAt: 0 }
  // Near the limit only the waiting request's units: the exact path, a hit at the decision
  // (refundable under the lease id), no lease to report.
  let idleAt: number
  const durationMs = extra === 0 ? 0 : leaseDuration(windows, quotas, now)
  if (extra === 0) {
    idleAt = Math.max(recordHits(sql, log, windows, ask.id, now, ask.need), recordQuotaUnits(sql, quotas, ask.need, now, { reservation: ask.id }))
  } else {
    idleAt = Math.max(recordLease(sql, log, ask.id, windows, granted, now + durationMs), recordQuotaUnits(sql, quotas, granted, now, { lease: ask.id }))
    sql.exec('INSERT INTO leases (id, granted_at, ends_at, expires) VALUES (?, ?, ?, ?)', ask.id, now, now + durationMs, idleAt)
  }
  checks.forEach((check, i) => {
    const decision = decisions[i]!
    decision.remaining -= granted
    if (decision.resetMs === 0 && check.kind === 'window') decision.resetMs = durationMs + check.windowMs
  })
  return { allowed: true, id: ask.id, granted, durationMs, decisions, idleAt }
}
