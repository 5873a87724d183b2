/**
 * @module
 * The one way the gateway calls an upstream: the proxy action and every aggregation call go
 * through `callUpstream`, so timeouts, error mapping, balancing, health, circuit breaking, retries
 * and fallback are written once.
 *
 * A call: read the shared health state (if the pool has active checks; cached) -> choose a target
 * (sticky cookie, else the balancer, among targets that are healthy, not ejected and whose circuit
 * is not open) -> try it with the per-try timeout -> record the outcome (passive health, breaker)
 * -> on a retriable failure, back off and try another target, within the retry count, the retry
 * budget and the total timeout -> on final failure (or no healthy target), the fallback, else a
 * problem: 503 with `Retry-After` when no target is available, 502 / 504 when the tries failed.
 */
import type { Context } from 'hono'
import type { AppEnv, UpstreamBody, UpstreamRequest } from '../core/context'
import type { HealthSnapshot } from './health-checker'
import { GatewayError } from '../core/errors'
import type { UpstreamLog } from '../core/logging'
import type { Target } from './pool'
import { backoffDelay, bufferBody, type TryResult } from './retry'
import type { CompiledUpstream } from './upstream'
import { executionContextOf } from '../core/runtime'

/**
 * How one call is sent, as opposed to what it sends (its `UpstreamRequest`): timing, the way to
 * abort it, and what its choice of target may go by.
 */
export type CallOptions = {
  /** Longest wait for response headers, per try, already capped by any deadline. */
  timeoutMs: number
  /** Aborts the call from outside (an aggregation deadline, a client that went away). */
  signal?: AbortSignal | undefined
  /** Absolute time (the runtime's `now()`, ms) by which the last try must have its headers: the route's deadline. */
  deadline?: number | undefined
  /** The client's request: affinity keys (consumer, IP), the sticky cookie (set on the response), `waitUntil`. */
  context?: Context<AppEnv> | undefined
  /** An explicit key for `balance: "hash"`, overriding `hashOn`. */
  affinityKey?: string | undefined
}

export type UpstreamResult = { response: Response; log: UpstreamLog }

/** Bodies without a Content-Length are buffered for a fallback upstream up to this many bytes. */
const FALLBACK_BODY_LIMIT = 65_536

type Attempt = { response: Response; error?: undefined; result: TryResult } | { response?: undefined; error: GatewayError; result: TryResult }

/** The request's `waitUntil`, through the runtime; undefined without an execution context (a unit test calling the app directly). */
function waitUntilOf(upstream: CompiledUpstream, c: Context<AppEnv> | undefined): ((p: Promise<unknown>) => void) | undefined {
  if (!executionContextOf(c)) return undefined
  return (p) => upstream.runtime.waitUntil(c, p)
}

/**
 * Sends one call. Resolves with the upstream's response (any status, redirects not followed);
 * rejects with a 504 `GatewayError` when headers don't arrive in time, 502 when the upstream can't
 * be reached, 503 when no target is available. No error names a target's address; `log` does.
 */
export async function callUpstream(upstream: CompiledUpstream, request: UpstreamRequest, options: CallOptions, log: UpstreamLog): Promise<Response> {
  log.name = upstream.name
  log.target = upstream.label
  let body = request.body ?? null
  let replayable = true
  if (body instanceof ReadableStream && request.method !== 'GET' && request.method !== 'HEAD') {
    const wantsReplay = upstream.retry?.allowsMethod(request.method) || upstream.fallback?.upstream !== undefined
    const buffered = wantsReplay ? await bufferBody(body, request.headers, upstream.retry?.config.bodyLimit ?? FALLBACK_BODY_LIMIT) : undefined
    if (buffered === undefined) replayable = false
    else body = buffered
  }
  try {
    return await callPool(upstream, request, options, body, replayable, log)
  } catch (err) {
    const fallback = upstream.fallback
    if (!fallback || !(err instanceof GatewayError) || options.signal?.aborted) throw err
    if (fallback.upstream !== undefined && upstream.fallbackUpstream && replayable) {
      log.fallback = fallback.upstream
      const { context: _c, ...rest } = options
      return callUpstream(upstream.fallbackUpstream, { ...request, body }, rest, log)
    }
    if (fallback.status === undefined) throw err
    log.fallback = 'response'
    const text = typeof fallback.body === 'string' || fallback.body === undefined ? (fallback.body ?? null) : JSON.stringify(fallback.body)
    const headers = new Headers(fallback.headers)
    if (text !== null && !headers.has('content-type')) headers.set('content-type', typeof fallback.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json')
    return new Response(text, { status: fallback.status, headers })
  }
}

async function callPool(upstream: CompiledUpstream, request: UpstreamRequest, options: CallOptions, body: UpstreamBody, replayable: boolean, log: UpstreamLog): Promise<Response> {
  const runtime = upstream.runtime
  const started = runtime.now()
  const end = Math.min(options.deadline ?? Infinity, upstream.timeouts.total !== undefined ? started + upstream.timeouts.total : Infinity)
  const retry = upstream.retry
  if (isPlain(upstream)) {
    // One target and no resilience machinery: nothing to choose among, record, retry or make sticky.
    const target = upstream.targets[0]!
    if (target.weight <= 0) throw unavailable(upstream)
    log.tries = 1
    log.target = target.label
    const attempt = await tryTarget(upstream, target, request, options.signal, body, Math.max(0, Math.min(options.timeoutMs, end - runtime.now())), log)
    if (attempt.error) throw attempt.error
    return attempt.response
  }
  const shared = upstream.active ? await upstream.active.read(waitUntilOf(upstream, options.context)) : undefined
  const maxRetries = retry && replayable && retry.allowsMethod(request.method) ? retry.config.attempts : 0
  retry?.budget.request()
  const key = options.affinityKey ?? upstream.hashKey?.(request.headers, options.context)
  const sticky = upstream.sticky && options.context ? upstream.sticky.fromCookie(request.headers.get('cookie')) : undefined
  const tried = new Set<Target>()

  let target = chooseTarget(upstream, shared, sticky, key, undefined, tried)
  if (!target) throw unavailable(upstream)
  const breaker = upstream.breakers?.[target.index]
  if (breaker && !breaker.acquire()) {
    throw new GatewayError('ERR_CIRCUIT_OPEN', {
      detail: 'The upstream is failing; requests are paused for a while.',
      headers: { 'Retry-After': String(Math.max(1, Math.ceil(breaker.reopensIn() / 1000))) },
    })
  }
  let last!: Attempt
  // Bounded: one pass per try, at most 1 + maxRetries (<= 6). Each pass holds the breaker slot of
  // `target` (taken before it); `settle` gives it back with an outcome, or without one.
  for (let attempt = 0; ; attempt++) {
    log.tries = attempt + 1
    log.target = target.label
    let outcome: Attempt | undefined
    try {
      outcome = await tryTarget(upstream, target, request, options.signal, body, Math.max(0, Math.min(options.timeoutMs, end - runtime.now())), log)
    } finally {
      settle(upstream, target, outcome, options.signal)
    }
    last = outcome!
    tried.add(target)
    if (attempt >= maxRetries || options.signal?.aborted || !retry!.retriable(last.result)) break
    const delay = backoffDelay(attempt + 1, retry!.config.backoff, runtime.random)
    if (runtime.now() + delay >= end) break
    // Decide the next try before giving up this answer: with no target to retry on (none left, or
    // its circuit open), the client gets this answer intact, not a 503 of the gateway's making.
    const next = chooseTarget(upstream, shared, undefined, key, target, tried)
    if (!next) break
    const nextBreaker = upstream.breakers?.[next.index]
    if (nextBreaker && !nextBreaker.acquire()) break
    if (!retry!.budget.tryRetry()) {
      nextBreaker?.release()
      break
    }
    await last.response?.body?.cancel()
    log.retried = (log.retried ?? 0) + 1
    await runtime.sleep(delay)
    target = next
  }
  if (last.error) throw last.error
  if (upstream.sticky && options.context && target !== sticky) {
    const response = new Response(last.response.body, last.response)
    response.headers.append('Set-Cookie', upstream.sticky.setCookie(target))
    return response
  }
  return last.response
}

/** A single target with no health checks, retries, sticky sessions, passive health or breakers. */
function isPlain(upstream: CompiledUpstream): boolean {
  return upstream.targets.length === 1 && !upstream.active && !upstream.retry && !upstream.sticky && !upstream.passive && !upstream.breakers
}

/** The target for this try: the sticky one if still available, else the balancer's choice. */
function chooseTarget(
  upstream: CompiledUpstream,
  shared: HealthSnapshot | undefined,
  sticky: Target | undefined,
  key: string | undefined,
  previous: Target | undefined,
  tried: Set<Target>,
): Target | undefined {
  let candidates = upstream.targets.filter((t) => {
    if (t.weight <= 0) return false
    const state = shared?.targets[t.id]
    if (state && !state.healthy) return false
    if (upstream.passive && !upstream.passive.available(t, state?.okAt)) return false
    // Fail-fast answers the first try 503 rather than skip an open target; a retry just skips it.
    return (upstream.failFast && !previous) || !upstream.breakers || upstream.breakers[t.index]!.canPass()
  })
  if (sticky && candidates.includes(sticky)) return sticky
  if (previous) {
    // Prefer targets not tried yet; never the same one twice in a row while another exists.
    const fresh = candidates.filter((t) => !tried.has(t))
    if (fresh.length > 0) candidates = fresh
    else if (candidates.length > 1) candidates = candidates.filter((t) => t !== previous)
  }
  return upstream.balancer.pick(candidates, key)
}

/**
 * When each call's first try started: the logged upstream time runs from there to the last try's
 * end. Per isolate, keyed weakly by a call's log: an entry lives as long as that one call (its
 * fallback upstream included), on the clock of the upstream's runtime.
 */
const firstTry = new WeakMap<UpstreamLog, number>()

async function tryTarget(
  upstream: CompiledUpstream,
  target: Target,
  request: UpstreamRequest,
  signal: AbortSignal | undefined,
  body: UpstreamBody,
  timeoutMs: number,
  log: UpstreamLog,
): Promise<Attempt> {
  const url = target.urlFor(request.path, request.search)
  let headers = request.headers
  if (request.beforeSend?.length) {
    // Per try, on a copy: each try is signed afresh (its own nonce and time) for its own target.
    headers = new Headers(headers)
    for (const hook of request.beforeSend) await hook({ method: request.method, url, headers })
  }
  const controller = new AbortController()
  const runtime = upstream.runtime
  const timer = runtime.setTimeout(() => controller.abort(), timeoutMs)
  const onOuterAbort = () => controller.abort()
  if (signal?.aborted) controller.abort()
  signal?.addEventListener('abort', onOuterAbort)
  const started = runtime.now()
  if (!firstTry.has(log)) firstTry.set(log, started)
  upstream.balancer.started(target)
  try {
    const response = await target.fetch(
      new Request(url, {
        method: request.method,
        headers,
        // A buffered body is copied per try: a Request may take ownership of the bytes it is given.
        body: request.method === 'GET' || request.method === 'HEAD' ? null : body instanceof ArrayBuffer ? body.slice(0) : body,
        redirect: 'manual',
        signal: controller.signal,
      }),
    )
    log.status = response.status
    delete log.error
    return { response, result: { kind: 'response', status: response.status } }
  } catch (err) {
    delete log.status
    if (controller.signal.aborted && !signal?.aborted) {
      log.error = 'timeout'
      return { error: new GatewayError('ERR_UPSTREAM_TIMEOUT', { detail: 'The upstream did not answer in time.', cause: err }), result: { kind: 'timeout' } }
    }
    log.error = signal?.aborted ? 'aborted' : 'unreachable'
    return { error: new GatewayError('ERR_UPSTREAM_UNREACHABLE', { detail: 'The upstream could not be reached.', cause: err }), result: { kind: 'unreachable' } }
  } finally {
    log.durationMs = runtime.now() - firstTry.get(log)!
    upstream.balancer.finished(target)
    runtime.clearTimeout(timer)
    signal?.removeEventListener('abort', onOuterAbort)
  }
}

/**
 * Feeds a try's outcome to passive health and the breaker. A try with no outcome (it threw) or one
 * aborted from outside (a client that left, an aggregation deadline) teaches nothing, but still
 * gives back the breaker slot it took: a half-open probe slot kept forever would fail every request.
 */
function settle(upstream: CompiledUpstream, target: Target, attempt: Attempt | undefined, signal: AbortSignal | undefined): void {
  const breaker = upstream.breakers?.[target.index]
  if (!attempt || signal?.aborted) return breaker?.release()
  const status = attempt.result.kind === 'response' ? attempt.result.status : undefined
  if (upstream.passive) upstream.passive.record(target, status === undefined || upstream.passive.isFailure(status) ? 'failed' : 'ok')
  if (breaker) breaker.record(status !== undefined && !upstream.breakerStatuses!.has(status))
}

/** 503 when no target may be tried; `Retry-After` says when the first one may be back. */
function unavailable(upstream: CompiledUpstream): GatewayError {
  const waits = [upstream.passive?.nextReturnIn() ?? 0, ...(upstream.breakers ?? []).map((b) => b.reopensIn())].filter((ms) => ms > 0)
  const seconds = waits.length > 0 ? Math.ceil(Math.min(...waits) / 1000) : 5
  return new GatewayError('ERR_UPSTREAM_UNAVAILABLE', {
    detail: 'No healthy upstream target is available.',
    headers: { 'Retry-After': String(Math.max(1, seconds)) },
  })
}
