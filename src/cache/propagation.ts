/**
 * @module
 * How many unsafe requests' invalidations an isolate carries to other locations. Deleting the
 * invalidated entries in this data centre is free, but reaching the others means bumping the
 * path's purge generation in KV: a KV write per invalidated path (and its bucket's, coalesced),
 * billed per write, and a free plan has 1,000 a day. Without a bound every 2xx to a POST on a
 * cached route would cost a write, and a client could spend them at its request rate.
 *
 * So each policy has a budget per isolate: `invalidationWritesPerMinute` path writes, spent as a
 * token bucket (a minute's worth at once, then refilled evenly). Past it, an invalidation reaches
 * this data centre only, as in any other HTTP cache: entries elsewhere live out their freshness
 * unless purged through the admin API. What was not carried is logged, at most once a minute.
 * Per config: a hot reload starts a full budget.
 */
import { logEvent } from '../core/logging'
import type { Runtime } from '../core/runtime'

const REPORT_EVERY_MS = 60_000

export type InvalidationBudget = {
  /** Whether an invalidation on `routeId` may bump its path's generation in KV; counts it, and reports at most once a minute, when not. */
  take(routeId: string, runtime: Runtime): boolean
}

export function invalidationBudget(writesPerMinute: number): InvalidationBudget {
  const perMs = writesPerMinute / 60_000
  let tokens = writesPerMinute
  let filledAt: number | undefined
  let notCarried = 0
  let reportedAt = -Infinity
  return {
    take(routeId, runtime) {
      const now = runtime.now()
      tokens = Math.min(writesPerMinute, tokens + (filledAt === undefined ? 0 : (now - filledAt) * perMs))
      filledAt = now
      if (tokens >= 1) {
        tokens -= 1
        return true
      }
      notCarried++
      if (now - reportedAt >= REPORT_EVERY_MS) {
        logEvent('cache_invalidation_not_propagated', {
          route: routeId,
          invalidations: notCarried,
          writesPerMinute,
          detail: 'deleted in this data centre only: the isolate spent its invalidationWritesPerMinute',
        })
        reportedAt = now
        notCarried = 0
      }
      return false
    },
  }
}
