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

export type CounterState =
  | { id: string; kind: 'window'; count: number; oldestAt: number; newestAt: number; expiresAt: number }
  | { id: string; kind: 'quota'; periodStart: number; used: number; expiresAt: number }

export type InspectResult = { now: number; counters: CounterState[] }

/** The longest window a check may ask for: 31 days. */
const MAX_WINDOW_MS = 31 * 86_400_000

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
