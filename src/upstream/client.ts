/**
 * @module
 * The one way the gateway calls an upstream: the proxy action, its mirror and every aggregation
 * call go through `callUpstream`, so timeouts, error mapping, balancing, health, circuit breaking,
 * retries and fallback are written once. It sends an `UpstreamRequest` (`core/context.ts`); how it
 * is sent is the call's `CallOptions`.
 *
 * A call: read the shared health state (if the pool has active checks; cached) -> choose a target
 * (`choose.ts`: sticky cookie, else the balancer, among targets that are healthy, not ejected and
 * whose circuit is not open) -> try it with the per-try timeout (with `hedge`, racing further tries
 * when it is slow: `hedge.ts`) -> record the outcome (passive health, breaker; one try and its
 * outcome are `attempt.ts`)
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
import { backoffDelay, bufferBody } from './retry'
import { settle, tryTarget, type Attempt, type CallInFlight } from './attempt'
import { hedgeBudget, mayHedge, raceTries, type HedgeConfig } from './hedge'
import { chooseTarget, hedgeTarget, refusedByCircuits, unavailable } from './choose'
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
  /** Hedges a slow first try (`./hedge`), when the request may be sent twice. */
  hedge?: HedgeConfig | undefined
}

export type UpstreamResult = { response: Response; log: UpstreamLog }

/** Bodies without a Content-Length are buffered for a fallback upstream up to this many bytes. */
const FALLBACK_BODY_LIMIT = 65_536

/** The request's `waitUntil`, through the runtime; undefined without an execution context (a unit test calling the app directly). */
export function waitUntilOf(upstream: CompiledUpstream, c: Context<AppEnv> | undefined): ((p: Promise<unknown>) => void) | undefined {
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
    const wantsReplay = upstream.retry?.allowsMethod(request.method) || upstream.fallback?.upstream !== undefined || (options.hedge !== undefined && mayHedge(request, true))
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
      // Not hedged: the route's hedge budget (subrequests) counts the hedges of its own upstream.
      const { context: _c, hedge: _h, ...rest } = options
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

/**
 * One call on its way: what each try reads, and the time by which the last try must have its
 * headers. `held`: the target whose breaker slot the call holds now (taken for a try, not yet
 * settled), so that an abort can give it back.
 */
type Call = CallInFlight & { options: CallOptions; end: number; held?: Target | undefined }

/** What the tries of one call share: the health snapshot, how many retries, the affinity key, the sticky target, the targets tried. */
type TryPlan = {
  shared: HealthSnapshot | undefined
  maxRetries: number
  key: string | undefined
  sticky: Target | undefined
  tried: Set<Target>
  /** Set when the first try is hedged. */
  hedge?: HedgeConfig | undefined
}

async function callPool(upstream: CompiledUpstream, request: UpstreamRequest, options: CallOptions, body: UpstreamBody, replayable: boolean, log: UpstreamLog): Promise<Response> {
  const end = Math.min(options.deadline ?? Infinity, upstream.timeouts.total !== undefined ? upstream.runtime.now() + upstream.timeouts.total : Infinity)
  const call: Call = { upstream, request, options, body, signal: options.signal, log, end }
  const hedge = options.hedge !== undefined && mayHedge(request, replayable) ? options.hedge : undefined
  // One target and no resilience machinery: nothing to choose among, record, retry or make sticky.
  if (isPlain(upstream) && !hedge) return callPlainTarget(call)
  // A client that goes away ends the request's work at its next `await` (workerd), so a `finally`
  // after one may never run: the abort listener itself gives back the breaker slot a try holds.
  // A half-open slot kept forever would refuse every later request to the target.
  const giveBack = () => releaseHeld(call)
  call.signal?.addEventListener('abort', giveBack)
  try {
    const plan = await planTries(call, replayable)
    plan.hedge = hedge
    const { last, target } = await tryInTurn(call, plan, hold(call, firstTarget(upstream, plan, log)))
    if (last.error) throw last.error
    return withStickyCookie(call, plan, target, last.response)
  } finally {
    call.signal?.removeEventListener('abort', giveBack)
  }
}

/** Notes that the call holds `target`'s breaker slot (just taken). */
function hold(call: Call, target: Target): Target {
  call.held = target
  return target
}

/** Gives back the breaker slot the call holds, without an outcome; true when it held one. */
function releaseHeld(call: Call): boolean {
  const held = call.held
  if (!held) return false
  call.held = undefined
  call.upstream.breakers?.[held.index]?.release()
  return true
}

/** The per-try timeout, cut short by what is left until the call's end. */
function tryTimeout(call: Call): number {
  return Math.max(0, Math.min(call.options.timeoutMs, call.end - call.upstream.runtime.now()))
}

async function callPlainTarget(call: Call): Promise<Response> {
  const target = call.upstream.targets[0]!
  if (target.weight <= 0) throw unavailable(call.upstream)
  call.log.tries = 1
  call.log.target = target.label
  const attempt = await tryTarget(call, target, tryTimeout(call))
  if (attempt.error) throw attempt.error
  return attempt.response
}

/** Reads what the tries will choose by (shared health, affinity, the sticky cookie) and counts the request in the retry budget. */
async function planTries(call: Call, replayable: boolean): Promise<TryPlan> {
  const { upstream, request, options } = call
  const retry = upstream.retry
  const shared = upstream.active ? await upstream.active.read(waitUntilOf(upstream, options.context)) : undefined
  const maxRetries = retry && replayable && retry.allowsMethod(request.method) ? retry.config.attempts : 0
  retry?.budget.request()
  const key = options.affinityKey ?? upstream.hashKey?.(request.headers, options.context)
  const sticky = upstream.sticky && options.context ? upstream.sticky.fromCookie(request.headers.get('cookie')) : undefined
  return { shared, maxRetries, key, sticky, tried: new Set() }
}

/**
 * The first try's target, with its breaker slot taken: 503 when there is none, or when its circuit
 * is open. A refusal the breakers made is marked in `log` (`breakerRejected`), for the metrics.
 */
function firstTarget(upstream: CompiledUpstream, plan: TryPlan, log: UpstreamLog): Target {
  const target = chooseTarget(upstream, plan.shared, plan.sticky, plan.key, undefined, plan.tried)
  if (!target) {
    if (upstream.breakers && refusedByCircuits(upstream, plan.shared)) log.breakerRejected = true
    throw unavailable(upstream)
  }
  const breaker = upstream.breakers?.[target.index]
  if (breaker && !breaker.acquire()) {
    log.breakerRejected = true
    throw new GatewayError('ERR_CIRCUIT_OPEN', {
      detail: 'The upstream is failing; requests are paused for a while.',
      headers: { 'Retry-After': String(Math.max(1, Math.ceil(breaker.reopensIn() / 1000))) },
    })
  }
  return target
}

/** Tries `target` (hedged, when the plan says so), then retries on other targets while the outcome, the retry count, budget and time allow. */
async function tryInTurn(call: Call, plan: TryPlan, target: Target): Promise<{ last: Attempt; target: Target }> {
  // Bounded: one pass per try, at most 1 + maxRetries (<= 6); the first may be a race of 1 + max hedges (<= 4).
  let sent = 0
  for (let attempt = 0; ; attempt++) {
    let outcome: Attempt | undefined
    if (attempt === 0 && plan.hedge) {
      const race = await hedgedFirstTry(call, plan, plan.hedge, target)
      ;({ outcome, target } = race)
      sent = race.targets.length
      for (const t of race.targets) plan.tried.add(t)
    } else {
      // Inline, not a helper: an unhedged try pays for no extra await.
      call.log.tries = ++sent
      call.log.target = target.label
      try {
        outcome = await tryTarget(call, target, tryTimeout(call))
      } finally {
        // Each pass holds the breaker slot of `target` (taken before it); `settle` gives it back
        // with an outcome, or without one, unless an abort already gave it back.
        if (call.held === target) {
          call.held = undefined
          settle(call.upstream, target, outcome, call.signal, call.log)
        }
      }
      plan.tried.add(target)
    }
    const next = await retryTarget(call, plan, target, outcome, attempt)
    if (!next) return { last: outcome, target }
    target = next
  }
}

/** The first try as a race (`./hedge`), which takes over the breaker slot the call holds for `first`. */
function hedgedFirstTry(call: Call, plan: TryPlan, hedge: HedgeConfig, first: Target) {
  call.held = undefined
  call.log.target = first.label
  const nextTarget = (racing: ReadonlySet<Target>) => hedgeTarget(call.upstream, plan.shared, plan.key, racing)
  return raceTries({ call, hedge, budget: hedgeBudget(call.upstream), timeoutMs: tryTimeout(call), nextTarget }, first)
}

/**
 * The target of the retry after try number `attempt` (0-based), its breaker slot and a retry of
 * the budget taken, once the backoff has passed; undefined when this answer is the last.
 */
async function retryTarget(call: Call, plan: TryPlan, target: Target, last: Attempt, attempt: number): Promise<Target | undefined> {
  const { upstream, log } = call
  const retry = upstream.retry
  if (attempt >= plan.maxRetries || call.signal?.aborted || !retry!.retriable(last.result)) return undefined
  const runtime = upstream.runtime
  const delay = backoffDelay(attempt + 1, retry!.config.backoff, runtime.random)
  if (runtime.now() + delay >= call.end) return undefined
  // Decide the next try before giving up this answer: with no target to retry on (none left, or
  // its circuit open), the client gets this answer intact, not a 503 of the gateway's making.
  const next = chooseTarget(upstream, plan.shared, undefined, plan.key, target, plan.tried)
  if (!next) return undefined
  const nextBreaker = upstream.breakers?.[next.index]
  if (nextBreaker && !nextBreaker.acquire()) return undefined
  hold(call, next)
  if (!retry!.budget.tryRetry()) {
    releaseHeld(call)
    return undefined
  }
  await last.response?.body?.cancel()
  log.retried = (log.retried ?? 0) + 1
  await runtime.sleep(delay)
  return next
}

/** Pins the client to the target that answered, when the upstream is sticky and it was not the pinned one. */
function withStickyCookie(call: Call, plan: TryPlan, target: Target, response: Response): Response {
  const sticky = call.upstream.sticky
  if (!sticky || !call.options.context || target === plan.sticky) return response
  const pinned = new Response(response.body, response)
  pinned.headers.append('Set-Cookie', sticky.setCookie(target))
  return pinned
}

/** A single target with no health checks, retries, sticky sessions, passive health or breakers. */
function isPlain(upstream: CompiledUpstream): boolean {
  return upstream.targets.length === 1 && !upstream.active && !upstream.retry && !upstream.sticky && !upstream.passive && !upstream.breakers
}
