/**
 * @module
 * One try of a call on one target (`client.ts` decides which targets, and how many tries): the
 * `beforeSend` hooks on a copy of the headers, the per-try timeout and the outside abort, the
 * fetch, and the outcome as retrying sees it; then what that outcome teaches passive health and
 * the target's breaker.
 */
import type { TryEnd, UpstreamBody, UpstreamRequest } from '../core/context'
import { GatewayError } from '../core/errors'
import type { UpstreamLog } from '../core/logging'
import { finalAfterInterim } from './interim'
import type { Target } from './pool'
import type { TryResult } from './retry'
import type { CompiledUpstream } from './upstream'

/** What every try of one call reads. */
export type CallInFlight = {
  upstream: CompiledUpstream
  request: UpstreamRequest
  /** The body each try sends: the request's, buffered when it may have to be sent again. */
  body: UpstreamBody
  /** Aborts the call from outside (an aggregation deadline, a client that went away). */
  signal: AbortSignal | undefined
  log: UpstreamLog
}

export type Attempt = { response: Response; error?: undefined; result: TryResult } | { response?: undefined; error: GatewayError; result: TryResult }

/**
 * When each call's first try started: the logged upstream time runs from there to the last try's
 * end. Per isolate, keyed weakly by a call's log: an entry lives as long as that one call (its
 * fallback upstream included), on the clock of the upstream's runtime.
 */
const firstTry = new WeakMap<UpstreamLog, number>()

/**
 * Makes a try that writes its own `log` (a hedge, `./hedge`) time itself from `call`'s first try,
 * as the call's log would; the call's first try starts `now` if none has yet.
 */
export function timeLike(log: UpstreamLog, call: UpstreamLog, now: number): void {
  if (!firstTry.has(call)) firstTry.set(call, now)
  firstTry.set(log, firstTry.get(call)!)
}

/** A final status a Response may carry (200-599), or a WebSocket's 101. */
export function validFinalStatus(response: Response): boolean {
  return (response.status >= 200 && response.status <= 599) || (response.status === 101 && response.webSocket !== null)
}

export function isInterim(response: Response): boolean {
  return response.status >= 100 && response.status <= 199 && response.status !== 101
}

/** A try whose fetch failed: 504 when its header timer fired, else 502 (`aborted`: the call was aborted from outside). */
export function fetchError(cause: unknown, timedOut: boolean, aborted: boolean, log: UpstreamLog): GatewayError {
  delete log.status
  if (timedOut) {
    log.error = 'timeout'
    return new GatewayError('ERR_UPSTREAM_TIMEOUT', { detail: 'The upstream did not answer in time.', cause })
  }
  log.error = aborted ? 'aborted' : 'unreachable'
  return new GatewayError('ERR_UPSTREAM_UNREACHABLE', { detail: 'The upstream could not be reached.', cause })
}

/** A response that is not a final answer (no valid status): cancelled at once, logged, and a 502. */
export function invalidResponse(response: Response, log: UpstreamLog): GatewayError {
  // What remains of the connection is not a response to read: cancel it at once.
  response.body?.cancel().catch(() => {})
  delete log.status
  log.error = `invalid-status-${response.status}`
  return new GatewayError('ERR_UPSTREAM_INVALID_RESPONSE', { detail: 'The upstream answered with a status that is not a valid final HTTP status.' })
}

/** Sends one try to `target`, waiting at most `timeoutMs` for its headers. Never throws a gateway error: it returns it. */
export async function tryTarget(call: CallInFlight, target: Target, timeoutMs: number): Promise<Attempt> {
  const { upstream, request, body, signal, log } = call
  const url = target.urlFor(request.path, request.search)
  let headers = request.headers
  let ends: TryEnd[] | undefined
  if (request.beforeSend?.length) {
    // Per try, on a copy: each try is signed afresh (its own nonce and time) for its own target.
    headers = new Headers(headers)
    for (const hook of request.beforeSend) {
      const end = await hook({ method: request.method, url, headers, call: log })
      if (end) (ends ??= []).push(end)
    }
  }
  const controller = new AbortController()
  const runtime = upstream.runtime
  const timer = runtime.setTimeout(() => controller.abort(), timeoutMs)
  const started = runtime.now()
  if (!firstTry.has(log)) firstTry.set(log, started)
  upstream.balancer.started(target)
  let counted = true
  // Once: from the abort listener when the call is aborted from outside (a client that went away
  // may end the request's work at the next `await`, so `finally` may never run), else from `finally`.
  const finished = () => {
    if (!counted) return
    counted = false
    upstream.balancer.finished(target)
    log.durationMs = runtime.now() - firstTry.get(log)!
    if (ends) for (const end of ends) end({ status: log.status, error: log.error })
  }
  const onOuterAbort = () => {
    log.error = 'aborted'
    finished()
    controller.abort()
  }
  if (signal?.aborted) controller.abort()
  signal?.addEventListener('abort', onOuterAbort)
  try {
    let response = await target.fetch(
      new Request(url, {
        method: request.method,
        headers,
        // A buffered body is copied per try: a Request may take ownership of the bytes it is given.
        body: request.method === 'GET' || request.method === 'HEAD' ? null : body instanceof ArrayBuffer ? body.slice(0) : body,
        redirect: 'manual',
        signal: controller.signal,
      }),
    )
    // An interim 1xx handed over as final: the final response is in its body (`./interim`).
    const final = isInterim(response) ? await finalAfterInterim(response, request.method) : response
    if (final) response = final
    if (!final || !validFinalStatus(response)) return { error: invalidResponse(response, log), result: { kind: 'unreachable' } }
    log.status = response.status
    delete log.error
    return { response, result: { kind: 'response', status: response.status } }
  } catch (err) {
    const timedOut = controller.signal.aborted && !signal?.aborted
    return { error: fetchError(err, timedOut, signal?.aborted === true, log), result: { kind: timedOut ? 'timeout' : 'unreachable' } }
  } finally {
    finished()
    runtime.clearTimeout(timer)
    signal?.removeEventListener('abort', onOuterAbort)
  }
}

/**
 * Feeds a try's outcome to passive health and the breaker. A try with no outcome (it threw) or one
 * aborted from outside (a client that left, an aggregation deadline) teaches nothing, but still
 * gives back the breaker slot it took: a half-open probe slot kept forever would fail every request.
 * An outcome that opens the circuit is counted in `log` (the call's, `breakerOpens`).
 */
export function settle(upstream: CompiledUpstream, target: Target, attempt: Attempt | undefined, signal: AbortSignal | undefined, log: UpstreamLog): void {
  const breaker = upstream.breakers?.[target.index]
  if (!attempt || signal?.aborted) return breaker?.release()
  const status = attempt.result.kind === 'response' ? attempt.result.status : undefined
  if (upstream.passive) upstream.passive.record(target, status === undefined || upstream.passive.isFailure(status) ? 'failed' : 'ok')
  if (breaker?.record(status !== undefined && !upstream.breakerStatuses!.has(status))) log.breakerOpens = (log.breakerOpens ?? 0) + 1
}
