/**
 * @module
 * `RateLimiter`: the Durable Object that holds every counter of one limit key (one IP, one
 * consumer, one header value...). One object per key (`idFromName(key)`), so there is no global
 * bottleneck, and a single-threaded object makes every count exact: a limit of N admits N.
 *
 * Algorithm: a sliding-window LOG for rolling windows, a fixed calendar counter for quotas.
 * - Window limits ("100 per 60 s"): each admitted request is a row with its time and weight (its
 *   units: `cost`). A request is admitted while its units fit in the last W ms, so ANY interval of W ms holds at
 *   most N admissions — stricter than GCRA or a token bucket (which let 2N-1 through in a window
 *   after an idle period) and exact, unlike the sliding-window counter's interpolation. A unit
 *   comes back exactly W ms after the request that used it. Storage is at most N live rows per
 *   counter, plus expired ones deleted in batches (and by the alarm), which is why window limits
 *   are capped (see the schema) and very large counts belong in quotas. Decisions read an
 *   in-memory mirror of the rows (`./window-log`), so a call costs one INSERT, not a scan.
 * - Leases (`lease`, see `./lease-ledger`): a block of units of window limits an isolate spends
 *   without calling; counted as one row timed at the lease's end until reported.
 * - Quotas ("10,000 per month"): one counter per calendar period (UTC day or month); O(1) state.
 * - A refund is exact in both: the reservation's own rows are removed, whatever came after. A
 *   refund that reaches the object before its call (a late refund can overtake the call it gives
 *   back) is remembered for as long as a hold, and that call is then charged nothing.
 *
 * All checks in one call are decided together and consumed all-or-nothing: a denied request is
 * charged nowhere in this object. State lives in SQLite (`ctx.storage.sql`), so eviction or a
 * restart loses nothing; an alarm deletes everything once the last counter has expired.
 *
 * Time: the object reads its own clock (`this.clock`). It never takes a time from the caller.
 * Tests replace `clock` through `runInDurableObject`; it is an instance field, and instance fields
 * are not reachable over RPC, so no caller can move the clock.
 */
import { DurableObject } from 'cloudflare:workers'
import type { Env } from '../core/env'
import { checkInput, checkLeaseAsk, isCost, type ConsumeResult, type InspectResult, type LeaseAsk, type LeaseResult, type LimitCheck, type LimitDecision, type QuotaCheck, type WindowCheck } from './limiter-rpc'
import { grantLease, leaseTag, recordHits, settleReports } from './lease-ledger'
import { periodBounds } from './periods'
import { recordQuotaUnits } from './quota-leases'
import { decideWindow, PRUNE_BATCH, WindowLog } from './window-log'
import { systemRuntime, type Runtime } from '../core/runtime'

/** A reservation can be refunded for this long (far beyond the caller's RPC timeout). */
const HOLD_MS = 300_000

const SCHEMA = `
CREATE TABLE IF NOT EXISTS hits (counter TEXT NOT NULL, at INTEGER NOT NULL, expires INTEGER NOT NULL, reservation TEXT NOT NULL, weight INTEGER NOT NULL DEFAULT 1);
DROP INDEX IF EXISTS hits_by_counter;
DROP INDEX IF EXISTS hits_by_reservation;
CREATE INDEX IF NOT EXISTS hits_held ON hits (reservation) WHERE reservation <> '';
CREATE TABLE IF NOT EXISTS quotas (counter TEXT NOT NULL, period INTEGER NOT NULL, used INTEGER NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (counter, period));
CREATE TABLE IF NOT EXISTS holds (reservation TEXT NOT NULL, counter TEXT NOT NULL, period INTEGER NOT NULL, at INTEGER NOT NULL, units INTEGER NOT NULL DEFAULT 1);
CREATE INDEX IF NOT EXISTS holds_by_reservation ON holds (reservation);
CREATE INDEX IF NOT EXISTS holds_by_at ON holds (at);
CREATE TABLE IF NOT EXISTS refunded (reservation TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS leases (id TEXT PRIMARY KEY, granted_at INTEGER NOT NULL, ends_at INTEGER NOT NULL, expires INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS quota_leases (id TEXT NOT NULL, counter TEXT NOT NULL, period INTEGER NOT NULL, units INTEGER NOT NULL, expires INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS quota_leases_by_id ON quota_leases (id);
CREATE INDEX IF NOT EXISTS quota_leases_by_counter ON quota_leases (counter, period);
`

export class RateLimiter extends DurableObject<Env> {
  /** The object's own runtime: a Durable Object is not built by `createGateway`, so it holds the system's. */
  private readonly runtime: Runtime = systemRuntime
  /** The object's clock. Tests may replace it (through `runInDurableObject`); RPC cannot. */
  clock: () => number = () => this.runtime.now()
  /** The alarm currently set (real epoch ms), mirrored to avoid a read per call. */
  private alarmAt: number | null = null
  private schemaReady = false
  /** The window rows, mirrored from SQLite so a decision reads no rows (see window-log.ts). */
  private readonly log = new WindowLog()

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    void ctx.blockConcurrencyWhile(async () => {
      this.ensureSchema()
      this.loadLog()
      this.alarmAt = await ctx.storage.getAlarm()
    })
  }

  private ensureSchema(): void {
    if (this.schemaReady) return
    const sql = this.ctx.storage.sql
    sql.exec(SCHEMA)
    // Storage written before weighted entries (leases, costs) lacks these columns: every row was one unit.
    for (const [table, column] of [['hits', 'weight'], ['holds', 'units']] as const) {
      if (!sql.exec<{ name: string }>(`PRAGMA table_info(${table})`).toArray().some((c) => c.name === column)) {
        sql.exec(`ALTER TABLE ${table} ADD COLUMN ${column} INTEGER NOT NULL DEFAULT 1`)
      }
    }
    this.schemaReady = true
  }

  /** (Re)builds the window mirror from SQLite: at start, and after a failed transaction. */
  private loadLog(): void {
    this.log.clear()
    // Expired rows come back too; each check drops them against its own window, as before.
    const rows = this.ctx.storage.sql.exec<{ counter: string; at: number; weight: number; reservation: string }>('SELECT counter, at, weight, reservation FROM hits ORDER BY counter, at')
    for (const row of rows) this.log.add(row.counter, row.at, row.weight, row.reservation.startsWith('L:'))
  }

  private one<T>(query: string, ...params: SqlStorageValue[]): T | undefined {
    return this.ctx.storage.sql.exec(query, ...params).toArray()[0] as T | undefined
  }

  /**
   * Checks every limit and, only if all admit, consumes one unit of each under `reservation`.
   * No reservation (`''`: the caller asks this object alone, so it will never refund) skips the
   * refund bookkeeping: no `holds` row, and the hit stays out of the partial reservation index,
   * so the commit writes fewer pages.
   * Never rejects: a failure comes back as `error`, so the caller applies its `onError` choice.
   */
  async consume(checks: LimitCheck[], reservation = '', units = 1): Promise<ConsumeResult> {
    try {
      return await this.consumeChecked(checks, reservation, units)
    } catch (err) {
      console.error(JSON.stringify({ event: 'rate_limiter_error', method: 'consume', error: String(err) }))
      return { allowed: false, decisions: [], error: err instanceof TypeError ? err.message : 'the rate limiter failed' }
    }
  }

  private async consumeChecked(checks: LimitCheck[], reservation: string, units: number): Promise<ConsumeResult> {
    checkInput(checks, reservation)
    if (!isCost(units)) throw new TypeError('bad units')
    this.ensureSchema()
    const now = this.clock()
    const sql = this.ctx.storage.sql
    // A late refund can reach the object before the call it gives back (the caller stopped waiting
    // for it): that reservation was refused already, so the call is charged nothing.
    if (reservation !== '' && this.one('SELECT 1 AS x FROM refunded WHERE reservation = ?', reservation)) {
      return { allowed: false, decisions: [], error: 'the reservation was refunded before it arrived' }
    }
    // Decided and written with no await in between: nothing can interleave, so counts are exact.
    const admitted: [string, number][] = []
    const result = this.ctx.storage.transactionSync(() => {
      const decisions = checks.map((check) => (check.kind === 'window' ? this.peekWindow(check, now, units) : this.peekQuota(check, now, units)))
      const allowed = decisions.every((d) => d.allowed)
      if (!allowed) return { allowed, decisions, idleAt: 0 }
      let idleAt = now
      checks.forEach((check, i) => {
        const decision = decisions[i]!
        decision.remaining -= units
        if (check.kind === 'window') {
          sql.exec('INSERT INTO hits (counter, at, expires, reservation, weight) VALUES (?, ?, ?, ?, ?)', check.id, now, now + check.windowMs, reservation, units)
          admitted.push([check.id, now])
          // With nothing counted before, the unit just used is the one that comes back first.
          if (decision.resetMs === 0) decision.resetMs = check.windowMs
          idleAt = Math.max(idleAt, now + check.windowMs)
        } else {
          const [start, end] = periodBounds(check.period, now)
          sql.exec(
            'INSERT INTO quotas (counter, period, used, expires) VALUES (?, ?, ?, ?) ON CONFLICT (counter, period) DO UPDATE SET used = used + excluded.used',
            check.id,
            start,
            units,
            end,
          )
          if (reservation !== '') sql.exec('INSERT INTO holds (reservation, counter, period, at, units) VALUES (?, ?, ?, ?, ?)', reservation, check.id, start, now, units)
          idleAt = Math.max(idleAt, end)
        }
      })
      return { allowed, decisions, idleAt }
    })
    // Mirrored only once the rows are written: a failed transaction leaves the mirror as SQLite is.
    for (const [counter, at] of admitted) this.log.add(counter, at, units)
    if (result.allowed) await this.scheduleCleanup(result.idleAt - now)
    return { allowed: result.allowed, decisions: result.decisions }
  }

  /** Whether `need` more units fit in the window now, and if not, when they will. */
  private peekWindow(check: WindowCheck, now: number, need = 1): LimitDecision {
    const since = now - check.windowMs
    const times = this.log.get(check.id)
    // Expired rows leave the mirror now and SQLite in batches (and in the alarm): one DELETE per
    // PRUNE_BATCH expiries instead of one per call. Until then they are never counted.
    if (times !== undefined && times.expire(since) >= PRUNE_BATCH) {
      this.ctx.storage.sql.exec('DELETE FROM hits WHERE counter = ? AND at <= ?', check.id, since)
      times.compact()
    }
    return decideWindow(times, check, now, need)
  }

  /**
   * Settles the caller's reports of its earlier leases, then grants a lease on window limits:
   * `need` units or nothing (denied, with when they'll be back), plus what `extraUnits` allows
   * of `want`. See `./lease-ledger` for how leased units are counted.
   * Never rejects, like `consume`.
   */
  async lease(checks: LimitCheck[], ask: LeaseAsk): Promise<LeaseResult> {
    try {
      return await this.leaseChecked(checks, ask)
    } catch (err) {
      console.error(JSON.stringify({ event: 'rate_limiter_error', method: 'lease', error: String(err) }))
      // The mirror may hold part of a transaction SQLite rolled back.
      if (this.schemaReady) this.loadLog()
      return { allowed: false, id: '', granted: 0, durationMs: 0, decisions: [], error: err instanceof TypeError ? err.message : 'the rate limiter failed' }
    }
  }

  private async leaseChecked(checks: LimitCheck[], ask: LeaseAsk): Promise<LeaseResult> {
    checkInput(checks, '')
    checkLeaseAsk(ask)
    this.ensureSchema()
    const now = this.clock()
    const sql = this.ctx.storage.sql
    const id = ask.id
    if (this.one('SELECT 1 AS x FROM refunded WHERE reservation = ?', id)) {
      return { allowed: false, id, granted: 0, durationMs: 0, decisions: [], error: 'the lease was refunded before it arrived' }
    }
    const result = this.ctx.storage.transactionSync(() => {
      settleReports(sql, this.log, ask.reports, now)
      return grantLease(sql, this.log, checks, ask, now, (check) => (check.kind === 'window' ? this.peekWindow(check, now, ask.need) : this.peekQuota(check, now, ask.need)))
    })
    const { idleAt, ...answer } = result
    if (idleAt > 0) await this.scheduleCleanup(idleAt - now)
    return answer
  }

  private peekQuota(check: QuotaCheck, now: number, need = 1): LimitDecision {
    const [start, end] = periodBounds(check.period, now)
    this.ctx.storage.sql.exec('DELETE FROM quotas WHERE counter = ? AND period < ?', check.id, start)
    this.ctx.storage.sql.exec('DELETE FROM holds WHERE at < ?', now - HOLD_MS)
    const used = this.one<{ used: number }>('SELECT used FROM quotas WHERE counter = ? AND period = ?', check.id, start)?.used ?? 0
    const allowed = used + need <= check.limit
    const base = { id: check.id, limit: check.limit, windowMs: end - start, resetMs: end - now }
    return { ...base, allowed, remaining: Math.max(0, check.limit - used), retryAfterMs: allowed ? 0 : end - now }
  }

  /**
   * Charges `units` more on every check, whether they fit or not (a cost known only after the
   * response): a key may go into debt, which delays its later admissions. Returns the units
   * charged, or -1 on failure.
   */
  async charge(checks: LimitCheck[], units: number): Promise<number> {
    try {
      checkInput(checks, '')
      if (!isCost(units)) throw new TypeError('bad units')
      this.ensureSchema()
      const now = this.clock()
      const sql = this.ctx.storage.sql
      const windows = checks.filter((c): c is WindowCheck => c.kind === 'window')
      const quotas = checks.filter((c): c is QuotaCheck => c.kind === 'quota')
      const idleAt = this.ctx.storage.transactionSync(() => Math.max(recordHits(sql, this.log, windows, '', now, units), recordQuotaUnits(sql, quotas, units, now)))
      await this.scheduleCleanup(idleAt - now)
      return units
    } catch (err) {
      console.error(JSON.stringify({ event: 'rate_limiter_error', method: 'charge', error: String(err) }))
      if (this.schemaReady) this.loadLog()
      return -1
    }
  }

  /** Gives back every unit `reservation` took (the request was denied elsewhere). Returns how many, or -1 on failure. */
  async refund(reservation: string): Promise<number> {
    try {
      return this.refundChecked(reservation)
    } catch (err) {
      console.error(JSON.stringify({ event: 'rate_limiter_error', method: 'refund', error: String(err) }))
      return -1
    }
  }

  private refundChecked(reservation: string): number {
    if (typeof reservation !== 'string' || reservation.length === 0 || reservation.length > 64) throw new TypeError('bad reservation id')
    this.ensureSchema()
    const sql = this.ctx.storage.sql
    const removed: { counter: string; at: number; weight: number }[] = []
    const leased: { counter: string; at: number; weight: number }[] = []
    const refunded = this.ctx.storage.transactionSync(() => {
      removed.push(...sql.exec<{ counter: string; at: number; weight: number }>("DELETE FROM hits WHERE reservation = ? AND reservation <> '' RETURNING counter, at, weight", reservation))
      // A lease whose answer never reached the isolate (it timed out): none of it was spent.
      leased.push(...sql.exec<{ counter: string; at: number; weight: number }>("DELETE FROM hits WHERE reservation = ? AND reservation <> '' RETURNING counter, at, weight", leaseTag(reservation)))
      // Its quota units too (counted in `used` from the grant).
      const quotaLeased = sql.exec<{ counter: string; period: number; units: number }>('DELETE FROM quota_leases WHERE id = ? RETURNING counter, period, units', reservation).toArray()
      for (const row of quotaLeased) sql.exec('UPDATE quotas SET used = max(0, used - ?) WHERE counter = ? AND period = ?', row.units, row.counter, row.period)
      if (leased.length > 0 || quotaLeased.length > 0) sql.exec('DELETE FROM leases WHERE id = ?', reservation)
      let refunded = [...removed, ...leased].reduce((sum, row) => sum + row.weight, 0) + quotaLeased.reduce((sum, row) => sum + row.units, 0)
      const holds = sql.exec<{ counter: string; period: number; units: number }>('SELECT counter, period, units FROM holds WHERE reservation = ?', reservation).toArray()
      for (const hold of holds) {
        const given = sql.exec('UPDATE quotas SET used = max(0, used - ?) WHERE counter = ? AND period = ? AND used > 0', hold.units, hold.counter, hold.period).rowsWritten
        refunded += given * hold.units
      }
      if (holds.length > 0) sql.exec('DELETE FROM holds WHERE reservation = ?', reservation)
      // Nothing held under it yet: remember it, so the call it refunds is charged nothing if it comes.
      if (removed.length === 0 && leased.length === 0 && quotaLeased.length === 0 && holds.length === 0) sql.exec('INSERT OR IGNORE INTO refunded (reservation, at) VALUES (?, ?)', reservation, this.clock())
      return refunded
    })
    for (const row of removed) this.log.remove(row.counter, row.at, row.weight)
    for (const row of leased) this.log.remove(row.counter, row.at, row.weight, true)
    return refunded
  }

  /** The live counters, for the admin API. */
  async inspect(): Promise<InspectResult> {
    this.ensureSchema()
    const now = this.clock()
    const sql = this.ctx.storage.sql
    const windows = sql
      .exec<{ id: string; count: number; leased: number; oldestAt: number; newestAt: number; expiresAt: number }>(
        "SELECT counter AS id, sum(weight) AS count, sum(CASE WHEN reservation LIKE 'L:%' THEN weight ELSE 0 END) AS leased, min(at) AS oldestAt, max(at) AS newestAt, max(expires) AS expiresAt FROM hits WHERE expires > ? GROUP BY counter ORDER BY counter",
        now,
      )
      .toArray()
      .map((row) => ({ kind: 'window' as const, ...row }))
    const quotas = sql
      .exec<{ id: string; periodStart: number; used: number; expiresAt: number }>(
        'SELECT counter AS id, period AS periodStart, used, expires AS expiresAt FROM quotas WHERE expires > ? ORDER BY counter',
        now,
      )
      .toArray()
      .map((row) => ({ kind: 'quota' as const, ...row }))
    return { now, counters: [...windows, ...quotas] }
  }

  /** Forgets every counter of this key (admin reset). */
  async reset(): Promise<void> {
    await this.ctx.storage.deleteAlarm()
    await this.ctx.storage.deleteAll()
    this.schemaReady = false
    this.alarmAt = null
    this.log.clear()
  }

  /** Deletes what has expired; deletes everything once nothing is left, so idle keys cost nothing. */
  override async alarm(): Promise<void> {
    this.ensureSchema()
    const now = this.clock()
    const sql = this.ctx.storage.sql
    sql.exec('DELETE FROM hits WHERE expires <= ?', now)
    sql.exec('DELETE FROM quotas WHERE expires <= ?', now)
    sql.exec('DELETE FROM holds WHERE at < ?', now - HOLD_MS)
    sql.exec('DELETE FROM refunded WHERE at < ?', now - HOLD_MS)
    sql.exec('DELETE FROM leases WHERE expires <= ?', now)
    sql.exec('DELETE FROM quota_leases WHERE expires <= ?', now)
    this.alarmAt = null
    const left = this.one<{ idleAt: number | null }>(
      'SELECT max(e) AS idleAt FROM (SELECT max(expires) AS e FROM hits UNION ALL SELECT max(expires) FROM quotas)',
    )?.idleAt
    if (left == null) {
      await this.reset()
      return
    }
    await this.scheduleCleanup(left - now)
  }

  /**
   * Makes sure a cleanup alarm is set. One alarm is enough: if it fires while counters are still
   * live it prunes and sets the next one, so a busy key writes an alarm once per window, not per
   * request. The delay is applied to the real clock, so a test clock can't make it loop.
   */
  private async scheduleCleanup(delayMs: number): Promise<void> {
    if (this.alarmAt !== null) return
    const at = this.runtime.now() + Math.max(delayMs, 1000)
    this.alarmAt = at
    await this.ctx.storage.setAlarm(at)
  }
}
