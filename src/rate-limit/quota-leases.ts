/**
 * @module
 * Quota units in leases (see `./lease-ledger` for windows). A quota has no window to wait out: a
 * leased unit is counted in the period's `used` from the grant, and the lease's row in
 * `quota_leases` holds the units not yet reported spent. A final report gives the unspent units
 * back to `used`; a lease never reported keeps them, lost for the period. The rows of a period
 * (still out, or lost) are what the loss bound caps: at most QUOTA_LOSS_SHARE of the quota, so a
 * quota under 100 (a cap of 0) is never leased beyond the waiting request's units.
 */
import type { LeaseReport, QuotaCheck } from './limiter-rpc'
import { periodBounds } from './periods'

/** The most of a quota that may be out in leases, or lost with them, per period. */
export const QUOTA_LOSS_SHARE = 0.01

type Sql = SqlStorage

export const quotaLossBound = (limit: number) => Math.floor(limit * QUOTA_LOSS_SHARE)

/** Units of this period out in leases or lost with them. */
export function quotaParked(sql: Sql, check: QuotaCheck, now: number): number {
  const [start] = periodBounds(check.period, now)
  return sql.exec<{ units: number }>('SELECT coalesce(sum(units), 0) AS units FROM quota_leases WHERE counter = ? AND period = ?', check.id, start).one().units
}

/**
 * Counts `units` in each quota's period; with `lease`, a row holding them until reported; with
 * `reservation`, a hold a refund can give back; with neither, a charge for good. Returns the
 * latest period end.
 */
export function recordQuotaUnits(sql: Sql, checks: QuotaCheck[], units: number, now: number, hold?: { reservation: string } | { lease: string }): number {
  let idleAt = now
  for (const check of checks) {
    const [start, end] = periodBounds(check.period, now)
    sql.exec('INSERT INTO quotas (counter, period, used, expires) VALUES (?, ?, ?, ?) ON CONFLICT (counter, period) DO UPDATE SET used = used + excluded.used', check.id, start, units, end)
    if (hold === undefined) continue
    if ('lease' in hold) sql.exec('INSERT INTO quota_leases (id, counter, period, units, expires) VALUES (?, ?, ?, ?, ?)', hold.lease, check.id, start, units, end)
    else sql.exec('INSERT INTO holds (reservation, counter, period, at, units) VALUES (?, ?, ?, ?, ?)', hold.reservation, check.id, start, now, units)
    idleAt = Math.max(idleAt, end)
  }
  return idleAt
}

/** A report's quota side: spent units leave the row (they stay used); a final report gives the rest back. */
export function settleQuotaReport(sql: Sql, report: LeaseReport): void {
  const spent = report.spent.reduce((sum, [, units]) => sum + units, 0)
  const rows = sql.exec<{ row: number; counter: string; period: number; units: number }>('SELECT rowid AS row, counter, period, units FROM quota_leases WHERE id = ?', report.id).toArray()
  for (const row of rows) {
    const left = Math.max(0, row.units - spent)
    if (report.final || left === 0) {
      if (left > 0) sql.exec('UPDATE quotas SET used = max(0, used - ?) WHERE counter = ? AND period = ?', left, row.counter, row.period)
      sql.exec('DELETE FROM quota_leases WHERE rowid = ?', row.row)
    } else {
      sql.exec('UPDATE quota_leases SET units = ? WHERE rowid = ?', left, row.row)
    }
  }
}
