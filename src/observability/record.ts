/**
 * @module
 * One request's metrics, read from its finished log record and context: what the aggregator and
 * Analytics Engine receive. Fields that other features publish in the log line (`consumer`,
 * `auth`, `rateLimit`, `cache`) are read defensively: a request that never met that feature
 * has none of them.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../core/context'
import type { RequestLog } from '../core/logging'
import { systemRuntime } from '../core/runtime'

export type CacheStatus = 'hit' | 'miss' | 'none'

export type MetricRecord = {
  /** Milliseconds since the epoch, when the request arrived. */
  at: number
  /**
   * Route id; for the gateway's own pages the name they log (`(openapi)`, `(portal)`); `(favicon)`
   * for a `/favicon.ico` no route answers (browsers ask for it on every page); else `(none)`: no
   * route matched (404 / 405).
   */
  route: string
  /** Consumer id, or `(anonymous)`. */
  consumer: string
  method: string
  status: number
  durationMs: number
  /** Upstream origin label (`https://api.example.com`), when one was called. */
  upstream?: string | undefined
  upstreamStatus?: number | undefined
  upstreamMs?: number | undefined
  /** Hedged tries the request's upstream call (or aggregation calls) sent, and how many of them won. */
  hedges?: number | undefined
  hedgeWins?: number | undefined
  /** Upstream tries made: the proxy's, plus each aggregation call's. */
  upstreamTries?: number | undefined
  /**
   * Circuit breakers: calls (the proxy's, or aggregation calls) refused because of an open circuit,
   * and circuits the request's tries opened in this isolate. Set (both) only when one is not zero.
   */
  breakerRejections?: number | undefined
  breakerOpens?: number | undefined
  cache: CacheStatus
  /** Auth outcome as the auth policy logged it (`ok`, `missing`, `invalid`, ...), or `none`. */
  auth: string
  /** Rate-limit outcome (`allowed`, `denied`, `failed-open`, ...), or `none`. */
  rateLimit: string
  /** The gateway error code when the request failed. */
  error?: string | undefined
}

export const NO_ROUTE = '(none)'
export const FAVICON = '(favicon)'
export const ANONYMOUS = '(anonymous)'

/** Cache-Status parameters (RFC 9211) as the cache policy logs them: `hit; ttl=30`, `fwd=miss; stored`. */
function cacheStatusOf(value: unknown): CacheStatus {
  if (typeof value !== 'string') return 'none'
  if (/^hit\b/.test(value)) return 'hit'
  if (/^fwd=(miss|uri-miss|vary-miss|stale|request|partial)\b/.test(value)) return 'miss'
  return 'none'
}

function outcomeOf(value: unknown): string {
  if (value && typeof value === 'object' && typeof (value as { outcome?: unknown }).outcome === 'string') {
    return (value as { outcome: string }).outcome.slice(0, 32)
  }
  return 'none'
}

/** Tries of the proxy call and of each aggregation call (`calls`, the aggregate action's log entries). */
function triesOf(log: RequestLog): number {
  const count = (entry: unknown) => {
    const tries = (entry as { tries?: unknown } | undefined)?.tries
    return typeof tries === 'number' && Number.isSafeInteger(tries) && tries > 0 ? tries : 0
  }
  let tries = count(log.upstream)
  if (Array.isArray(log.calls)) for (const call of log.calls) tries += count(call)
  return tries
}

/** The name of a request no route answered: what the gateway's own pages logged, else by its path. */
function unroutedName(log: RequestLog): string {
  if (typeof log.routeId === 'string') return log.routeId
  return log.path === '/favicon.ico' ? FAVICON : NO_ROUTE
}

/** What `recordOf` needs besides the log record (all from the request's context). */
export type RecordContext = {
  at: number
  route: string | undefined
  consumer: string | undefined
  method: string
  status: number
  /** The runtime's `now()`, for a record whose log has no duration yet (default: the system clock). */
  now?: number
}

/** Hedges the request's calls sent and won: its upstream call's, else its aggregation calls' (`calls`). */
function hedgesOf(log: RequestLog): { hedges?: number; hedgeWins?: number } {
  const calls = log.upstream ? [log.upstream] : Array.isArray(log.calls) ? (log.calls as { hedges?: unknown; hedgeWon?: unknown }[]) : []
  let hedges = 0
  let hedgeWins = 0
  for (const call of calls) {
    if (typeof call.hedges !== 'number') continue
    hedges += call.hedges
    if (call.hedgeWon === true) hedgeWins++
  }
  return hedges > 0 ? { hedges, hedgeWins } : {}
}

/**
 * What circuit breakers did to the request's calls (its upstream call's, else its aggregation
 * calls'): calls refused, circuits opened. Undefined (nothing to spread, nothing allocated) when
 * they did nothing, as on every route without a breaker: the fields exist only on a call where one acted.
 */
function breakersOf(log: RequestLog): { breakerRejections: number; breakerOpens: number } | undefined {
  const upstream = log.upstream
  if (upstream) return upstream.breakerRejected || upstream.breakerOpens ? { breakerRejections: upstream.breakerRejected ? 1 : 0, breakerOpens: upstream.breakerOpens ?? 0 } : undefined
  if (!Array.isArray(log.calls)) return undefined
  let breakerRejections = 0
  let breakerOpens = 0
  for (const call of log.calls as { breakerRejected?: unknown; breakerOpens?: unknown }[]) {
    if (call.breakerRejected === true) breakerRejections++
    if (typeof call.breakerOpens === 'number' && Number.isSafeInteger(call.breakerOpens) && call.breakerOpens > 0) breakerOpens += call.breakerOpens
  }
  return breakerRejections || breakerOpens ? { breakerRejections, breakerOpens } : undefined
}

export function recordOf(log: RequestLog, ctx: RecordContext): MetricRecord {
  const upstream = log.upstream
  const consumer = ctx.consumer ?? (typeof log.consumer === 'string' ? log.consumer : undefined)
  const rateLimit = outcomeOf(log.rateLimit)
  return {
    at: ctx.at,
    route: ctx.route ?? unroutedName(log),
    consumer: consumer ?? ANONYMOUS,
    method: ctx.method,
    status: ctx.status,
    durationMs: log.durationMs ?? (ctx.now ?? systemRuntime.now()) - ctx.at,
    upstream: upstream?.target,
    upstreamStatus: upstream?.status,
    upstreamMs: upstream?.durationMs,
    ...hedgesOf(log),
    upstreamTries: triesOf(log),
    ...breakersOf(log),
    cache: cacheStatusOf(log.cache),
    auth: outcomeOf(log.auth),
    // A 429 from a limiter that logged nothing (or from the origin) is not the gateway's limit.
    rateLimit: rateLimit === 'none' && (log.error === 'ERR_RATE_LIMITED' || log.error === 'ERR_QUOTA_EXCEEDED') ? 'denied' : rateLimit,
    error: log.error,
  }
}

export function recordFrom(c: Context<AppEnv>): MetricRecord {
  return recordOf(c.get('log'), {
    at: c.get('startedAt'),
    route: c.get('route')?.id,
    consumer: c.get('consumer')?.id,
    method: c.req.method,
    status: c.res.status,
    now: c.get('runtime').now(),
  })
}
