/**
 * @module
 * What the merged response says besides its body: whether it is whole (`Gateway-Aggregate`), how
 * long it may be cached and what it varies on (`./cacheability`), and how failed calls are listed.
 */
import type { RequestLog } from '../core/logging'
import { aggregateCacheHeaders } from './cacheability'
import type { CallFailure, CompiledCall } from './call'
import type { RunOutcome } from './run'

/**
 * The response's headers: `complete` with the calls' cacheability, or `partial` and never stored.
 * Why a complete one may not be stored goes to the log line (`aggregateNoStore`: `me: private`,
 * `cart: set-cookie`, `no-ttl`, ...), so an operator can tell which answer made it so.
 */
export function answerHeaders(outcome: RunOutcome, log: RequestLog): Headers {
  const headers = new Headers({ 'Content-Type': 'application/json' })
  if (outcome.errors.length > 0) {
    headers.set('Gateway-Aggregate', 'partial')
    // A partial answer must not be kept by a cache and served as if it were whole.
    headers.set('Cache-Control', 'no-store')
    return headers
  }
  headers.set('Gateway-Aggregate', 'complete')
  const calls = [...outcome.results].map(([name, result]) => {
    const say = result.cacheability ?? { uncacheable: 'unknown' }
    return 'uncacheable' in say ? { uncacheable: `${name}: ${say.uncacheable}` } : say
  })
  const cache = aggregateCacheHeaders(calls)
  headers.set('Cache-Control', cache.cacheControl)
  if (cache.reason !== undefined) log.aggregateNoStore = cache.reason
  if (cache.vary !== undefined) headers.set('Vary', cache.vary)
  return headers
}

/** True when the response merges at least one call and every one of them failed or was skipped. */
export function everyOutputFailed(calls: readonly CompiledCall[], outcome: RunOutcome): boolean {
  const merged = calls.filter((call) => call.output)
  return merged.length > 0 && merged.every((call) => !outcome.results.has(call.name))
}

/** Failures as the client sees them: a passthrough reply is the client's answer, never a listed member. */
export function listedFailures(errors: readonly CallFailure[]): CallFailure[] {
  return errors.map(({ reply: _reply, ...listed }) => listed)
}
