/**
 * @module
 * The `RateLimiter` object's RPC contract: the checks a caller sends (`LimitCheck`), the decisions
 * and results it gets back, what the admin API reads (`InspectResult`), and `checkInput`, which
 * the object runs on every call before trusting what came over RPC.
 */
import { MAX_CHECK_ID, MAX_CHECKS } from './schema'

export type WindowCheck = { id: string; kind: 'window'; limit: number; windowMs: number }
export type QuotaCheck = { id: string; kind: 'quota'; limit: number; period: 'day' | 'month' }
export type LimitCheck = WindowCheck | QuotaCheck

export type LimitDecision = {
  id: string
  allowed: boolean
  limit: number
  /** Units left after this request (0 when denied). */
  remaining: number
  /** Ms until more quota becomes available (the draft's `t`): the oldest counted unit's expiry, or the period's end. */
  resetMs: number
  /** The window (ms) for `RateLimit-Policy`: the configured window or the current period's length. */
  windowMs: number
  /** When denied: ms until this limit would admit one more request. */
  retryAfterMs: number
}

/** `error` is set (and nothing counted) when the call was malformed or the object failed. */
export type ConsumeResult = { allowed: boolean; decisions: LimitDecision[]; error?: string }

/**
 * What an isolate spent of one lease: `[offsetMs, units]` pairs, the offset measured on the
 * isolate's clock from when it asked for the lease. `final`: the isolate will spend no more of it,
 * so the object frees what was not spent.
 */
export type LeaseReport = { id: string; spent: [offsetMs: number, units: number][]; final: boolean }

/**
 * A lease request: `need` units for the request waiting on the answer (0 for a background top-up),
 * `want` units in all (the isolate's recent rate), and the reports of its earlier leases. `id`
 * names the lease, chosen by the isolate so it can refund an answer it never got (a timeout).
 */
export type LeaseAsk = { id: string; need: number; want: number; reports: LeaseReport[] }

/**
 * A lease: `granted` units (need included) the isolate may spend for `durationMs` from when it
 * asked. `durationMs: 0`: near the limit, only the waiting request's unit, counted at once as on
 * the exact path (a refund of `id` gives it back). Not `allowed`: `need` units are not available; nothing was granted, and the decisions say
 * when they will be. `error` as in `ConsumeResult`.
 */
export type LeaseResult = { allowed: boolean; id: string; granted: number; durationMs: number; decisions: LimitDecision[]; error?: string }

export type CounterState =
  | { id: string; kind: 'window'; count: number; leased: number; oldestAt: number; newestAt: number; expiresAt: number }
  | { id: string; kind: 'quota'; periodStart: number; used: number; expiresAt: number }

export type InspectResult = { now: number; counters: CounterState[] }

/** The longest window a check may ask for: 31 days. */
const MAX_WINDOW_MS = 31 * 86_400_000

/**
 * The most units one call may take or charge: a request's `cost`, or what its response reported
 * (a token count). Counters hold weighted rows, so a large charge is one row, not one per unit.
 */
export const MAX_COST = 1_000_000_000
export const isCost = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= MAX_COST

const isCount = (n: unknown, max: number): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= max

export function checkInput(checks: unknown, reservation: unknown): asserts checks is LimitCheck[] {
  if (!Array.isArray(checks) || checks.length === 0 || checks.length > MAX_CHECKS) throw new TypeError(`1 to ${MAX_CHECKS} checks expected`)
  if (typeof reservation !== 'string' || reservation.length > 64) throw new TypeError('bad reservation id')
  for (const check of checks as LimitCheck[]) {
    if (typeof check?.id !== 'string' || check.id.length === 0 || check.id.length > MAX_CHECK_ID) throw new TypeError('bad check id')
    if (!isCount(check.limit, 1e9)) throw new TypeError(`bad limit for "${check.id}"`)
    if (check.kind === 'window' ? !isCount(check.windowMs, MAX_WINDOW_MS) : check.period !== 'day' && check.period !== 'month') {
      throw new TypeError(`bad window or period for "${check.id}"`)
    }
  }
}

/** Reports one call may carry, and `[offset, units]` pairs per report (an isolate groups spends by millisecond). */
export const MAX_REPORTS = 64
export const MAX_SPENT_PAIRS = 4096
const isUnits = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 1e9

export function checkLeaseAsk(ask: unknown): asserts ask is LeaseAsk {
  const a = ask as LeaseAsk
  if (typeof a !== 'object' || a === null || (a.need !== 0 && !isCost(a.need)) || !isUnits(a.want) || a.want < a.need) throw new TypeError('bad lease ask')
  if (typeof a.id !== 'string' || a.id.length === 0 || a.id.length > 60 || a.id.startsWith('L:')) throw new TypeError('bad lease id')
  if (!Array.isArray(a.reports) || a.reports.length > MAX_REPORTS) throw new TypeError('bad lease reports')
  for (const r of a.reports) {
    if (typeof r?.id !== 'string' || r.id.length === 0 || r.id.length > 64 || typeof r.final !== 'boolean') throw new TypeError('bad lease report')
    if (!Array.isArray(r.spent) || r.spent.length > MAX_SPENT_PAIRS) throw new TypeError('bad lease report')
    for (const pair of r.spent) if (!Array.isArray(pair) || !isUnits(pair[0]) || !isUnits(pair[1])) throw new TypeError('bad lease report')
  }
}
