/**
 * @module
 * The shapes of a limit and a quota, shared by the `rate-limit` policy and a plan's `limits` and
 * `quotas` (`plans.<name>` in the gateway config).
 */
import * as v from 'valibot'
import { Name } from '../core/schema'

/** Checks one `RateLimiter` call may carry; the policy's validation keeps every request within it. */
export const MAX_CHECKS = 32
/** Longest check id (`route:<route id>/<name>`) the object takes; validation keeps every id within it. */
export const MAX_CHECK_ID = 256

/** Window limits keep one row per admitted request (a sliding log), so their count is capped. */
export const MAX_WINDOW_LIMIT = 100_000
const MAX_WINDOW_SECONDS = 31 * 86_400

export const WindowLimitEntries = {
  name: v.pipe(Name, v.description(SCHEMA_DOCS ? 'Names the limit in `RateLimit-Policy`, 429 bodies and the admin API.' : '')),
  limit: v.pipe(
    v.number(),
    v.integer('must be a whole number'),
    v.minValue(1),
    v.maxValue(MAX_WINDOW_LIMIT, `must be at most ${MAX_WINDOW_LIMIT} (use a quota for larger counts)`),
    v.description(SCHEMA_DOCS ? 'Requests admitted in any window of `window` seconds.' : ''),
  ),
  window: v.pipe(
    v.number(),
    v.integer('must be whole seconds'),
    v.minValue(1),
    v.maxValue(MAX_WINDOW_SECONDS, 'must be at most 31 days (2678400 seconds)'),
    v.description(SCHEMA_DOCS ? 'The sliding window, in seconds.' : ''),
  ),
}

export const QuotaEntries = {
  name: WindowLimitEntries.name,
  limit: v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(1), v.maxValue(1e9), v.description(SCHEMA_DOCS ? 'Requests per period.' : '')),
  period: v.pipe(v.picklist(['day', 'month']), v.description(SCHEMA_DOCS ? 'Calendar period in UTC; the count restarts at its first millisecond.' : '')),
}

export const WindowLimitSchema = v.strictObject(WindowLimitEntries)
export const QuotaSchema = v.strictObject(QuotaEntries)

/** The first name used twice in a list of limits and quotas, if any. */
export function duplicateName(items: { name: string }[]): string | undefined {
  const seen = new Set<string>()
  for (const { name } of items) {
    if (seen.has(name)) return name
    seen.add(name)
  }
  return undefined
}
