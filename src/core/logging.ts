/**
 * @module
 * One structured JSON log line per request. Policies add their own fields to `c.var.log`
 * (consumer, auth outcome, rate-limit decision, cache status); the gateway writes the line once the
 * response is ready. Nothing secret goes in: no tokens, keys, cookies or query values.
 */

export type UpstreamLog = {
  name: string
  /** The target's origin (scheme, host, port) or `service:<binding>`; never a path or query. */
  target?: string
  status?: number
  durationMs?: number
  error?: string
  /** Tries made (a pool with retries); `target`, `status` and `error` describe the last. */
  tries?: number
  retried?: number
  /** Hedged tries sent beside the first (`hedge` on the route or call), and whether one of them gave the answer. */
  hedges?: number
  hedgeWon?: boolean
  /** `response` or the name of the upstream that answered instead. */
  fallback?: string
  /** Circuits this call's tries opened (a try's failure tripped its target's breaker), in this isolate. */
  breakerOpens?: number
  /**
   * The call was refused without touching the upstream because of circuit breakers: the target's
   * circuit was open (`whenOpen: "fail-fast"`), or every target otherwise available had an open one.
   */
  breakerRejected?: true
}

export type RequestLog = {
  requestId: string
  routeId?: string
  method: string
  /** The path without its query; query parameter names only, never values. */
  path: string
  queryKeys?: string[]
  status?: number
  durationMs?: number
  upstream?: UpstreamLog
  /** The gateway error code when the request failed. */
  error?: string
  [field: string]: unknown
}

export type LogWriter = (line: RequestLog) => void

/**
 * The status logged (and counted in metrics) for a request whose client went away before its
 * response was ready, as nginx logs it; the client never sees it.
 */
export const CLIENT_CLOSED_STATUS = 499
export const CLIENT_CLOSED_ERROR = 'ERR_CLIENT_CLOSED'

/**
 * Marks a request's record as cut short by its client (499, `durationMs` until now) and writes its
 * line in a microtask: once the listeners further in (an upstream call's) have noted their part in
 * the record. No `writeLog` (request lines off): the record is marked, nothing written.
 */
export function logClientGone(log: RequestLog, durationMs: number, writeLog: LogWriter | undefined): void {
  log.status = CLIENT_CLOSED_STATUS
  log.error = CLIENT_CLOSED_ERROR
  log.durationMs = durationMs
  if (writeLog) queueMicrotask(() => writeLog(log))
}

export const consoleLogWriter: LogWriter = (line) => {
  console.log(JSON.stringify(line))
}

/** Above 0 while `withoutLogEvents` runs (per isolate; the work it wraps is synchronous). */
let muted = 0

/** Logs a problem the operator must see (invalid config, a failing store) outside the request line. */
export function logEvent(event: string, fields: Record<string, unknown> = {}): void {
  if (muted > 0) return
  console.error(JSON.stringify({ event, ...fields }))
}

/**
 * Runs `work` (synchronous) without its `logEvent`s: a route compiled again on its first match
 * already logged its setup warnings when the config was loaded.
 */
export function withoutLogEvents<T>(work: () => T): T {
  muted++
  try {
    return work()
  } finally {
    muted--
  }
}

/** Logs an operator event that is not a problem (a config reloaded), so log views don't show it as an error. */
export function logInfo(event: string, fields: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ event, ...fields }))
}
