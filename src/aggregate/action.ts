/**
 * @module
 * The `aggregate` route action: one client request, several backend calls, one JSON response.
 * Compiled once per route (templates, dependency order, shapers); per request it runs the calls
 * (`./run`), shapes and merges what arrived (`./shape`, `./merge`) and answers with
 * `Gateway-Aggregate: complete` or `partial` (optional calls that failed are listed in `errors`).
 * A required call's failure is a 502/504 problem+json naming the call.
 *
 * Every call carries the request id and what the gateway and its policies put on the upstream draft
 * (identity headers from auth policies, `X-Forwarded-*`); of the client's own headers, only those
 * its `forwardHeaders` names (`./forward`). The merged response says how long it may be cached and
 * what it varies on (`./cacheability`), so the route's `cache` policy stores it safely.
 */
import type { Context, Handler } from 'hono'
import type { ConfigView, RouteView } from '../core/config-view'
import type { AppEnv } from '../core/context'
import { GatewayError, type ErrorCode } from '../core/errors'
import { requestScope } from '../template/scope'
import type { CompiledUpstream } from '../upstream/upstream'
import { compileActionCost } from './cost'
import { compileCall, defaultCallTimeout, type CallFailure } from './call'
import { answerHeaders, everyOutputFailed, listedFailures } from './answer'
import { splitCallHeaders } from './forward'
import { appendTree, mergeResults } from './merge'
import { parsePath } from '../template/path'
import { dependencies, longestChain, topologicalOrder } from './plan'
import { runCalls, type RunOptions } from './run'
import type { AggregateActionConfig } from './schema'
import { setOwn } from './shape'

const FAILURE_CODES: Record<CallFailure['error'], ErrorCode> = {
  timeout: 'ERR_UPSTREAM_TIMEOUT',
  unreachable: 'ERR_UPSTREAM_UNREACHABLE',
  unavailable: 'ERR_UPSTREAM_UNAVAILABLE',
  status: 'ERR_UPSTREAM_BAD_RESPONSE',
  'too-large': 'ERR_UPSTREAM_BAD_RESPONSE',
  'not-json': 'ERR_UPSTREAM_BAD_RESPONSE',
  'too-deep': 'ERR_UPSTREAM_BAD_RESPONSE',
  'invalid-input': 'ERR_UPSTREAM_BAD_RESPONSE',
  skipped: 'ERR_UPSTREAM_BAD_RESPONSE',
  'missing-input': 'ERR_UPSTREAM_BAD_RESPONSE',
}

const FAILURE_DETAILS: Record<CallFailure['error'], string> = {
  timeout: 'did not answer in time',
  unreachable: 'could not be reached',
  unavailable: 'is unavailable (no healthy target, or its circuit breaker is open)',
  status: 'answered with an error status',
  'too-large': 'answered with a body over the size limit',
  'not-json': 'answered with a body that is not JSON',
  'too-deep': 'answered with a body nested too deeply',
  'invalid-input': 'was not sent: a value it places in its path or headers is not allowed there',
  skipped: 'could not run: a call it depends on failed',
  'missing-input': 'was not sent: a value its path or query reads from an earlier call is missing',
}

/** The required call's error answer, as the backend gave it (`errors: "passthrough"`). */
function passthrough(c: Context<AppEnv>, reply: Response): Response {
  c.get('log').aggregate = 'passthrough'
  return c.req.method === 'HEAD' ? new Response(null, reply) : reply
}

/** Every call the response merges failed or was skipped: nothing of what the route promises arrived. */
function allFailedError(errors: readonly CallFailure[]): GatewayError {
  const failed = listedFailures(errors)
  return new GatewayError('ERR_UPSTREAM_BAD_RESPONSE', {
    detail: `Every call whose answer the response merges failed: ${failed.map((f) => `"${f.call}" (${f.error})`).join(', ')}.`,
    extensions: { calls: failed },
  })
}

export function failureError(failure: CallFailure): GatewayError {
  return new GatewayError(FAILURE_CODES[failure.error], {
    detail: `The required call "${failure.call}" ${FAILURE_DETAILS[failure.error]}.`,
    extensions: { call: failure.call, reason: failure.error, ...(failure.status !== undefined && { upstreamStatus: failure.status }), ...(failure.input !== undefined && { input: failure.input }) },
    ...(failure.retryAfter !== undefined && { headers: { 'Retry-After': String(failure.retryAfter) } }),
  })
}

/** Another policy's options, read by its type (route first, then global), as far as this file needs them. */
function policiesOf<T>(config: ConfigView, route: RouteView, type: string): (T & { type: string })[] {
  return [...route.policies, ...config.policies].filter((p) => p.type === type) as (T & { type: string })[]
}

/** Client headers that carry credentials besides Authorization and Cookie: API keys, custom token headers. */
function credentialHeaders(config: ConfigView, route: RouteView): string[] {
  return [
    ...policiesOf<{ header: string }>(config, route, 'api-key').map((p) => p.header),
    ...['jwt', 'oauth'].flatMap((type) => policiesOf<{ token: { header: string } }>(config, route, type).map((p) => p.token.header)),
  ]
}

/** The request-id header every call carries: the route's or global request-id policy, else `X-Request-Id`. */
function requestIdHeader(config: ConfigView, route: RouteView): string | undefined {
  const policy = [...route.policies, ...config.policies].find((p) => p.type === 'request-id') as
    | { header: string; forward: boolean }
    | undefined
  if (!policy) return 'X-Request-Id'
  return policy.forward ? policy.header : undefined
}


export function aggregateAction(
  action: AggregateActionConfig,
  route: RouteView,
  config: ConfigView,
  upstreams: Map<string, CompiledUpstream>,
): Handler<AppEnv> {
  const deps = dependencies(action.calls)
  const order = topologicalOrder(deps)
  const errorAnswers = { passthrough: action.errors === 'passthrough', details: action.errorDetails }
  const calls = action.calls.map((call, i) =>
    compileCall({ ...call, forwardHeaders: call.forwardHeaders ?? action.forwardHeaders }, i, deps[i]!, upstreams.get(call.upstream)!, action.maxBodyBytes, errorAnswers),
  )
  const appends = action.calls.map((call) => (call.append ? appendTree(call.append.map(parsePath)) : undefined))
  const credentials = credentialHeaders(config, route)
  // The route cache's lifetime for answers that give none (`./cacheability`); 0 without a cache.
  const defaultTtl = policiesOf<{ defaultTtl: number }>(config, route, 'cache')[0]?.defaultTtl ?? 0
  // Without a route deadline, the run is bounded by its longest chain of call timeouts.
  const deadlineMs = route.deadline ?? longestChain(deps, action.calls.map((call) => call.timeout ?? defaultCallTimeout(upstreams.get(call.upstream)!))).ms
  const idHeader = requestIdHeader(config, route)
  const { maxInFlight, errorsKey, onAllFailed } = action
  const costOf = compileActionCost(action.calls)

  return async function aggregate(c) {
    const logs: RunOptions['logs'] = []
    c.get('log').calls = logs
    const outcome = await runCalls(calls, order, {
      scope: requestScope(c),
      baseHeaders: splitCallHeaders(c.get('upstreamRequest').headers, c.req.raw.headers, credentials, idHeader ? { header: idHeader, value: c.get('requestId') } : undefined),
      maxInFlight,
      deadline: c.get('startedAt') + deadlineMs,
      clientSignal: c.req.raw.signal,
      beforeSend: c.get('upstreamRequest').beforeSend,
      logs,
      runtime: c.get('runtime'),
      request: c,
      // Keyed on the client's request, as a proxy route would be: the calls' own headers are rendered.
      affinity: (upstream) => upstream.hashKey?.(c.req.raw.headers, c),
      cache: {
        origin: c.get('url').origin,
        routeId: route.id,
        env: c.env,
        generations: new Map(),
        runtime: c.get('runtime'),
        defaultTtl,
      },
    })
    // Before any failure is thrown: the calls that were answered cost what they cost.
    if (costOf) c.set('actionCost', costOf(logs, outcome.results))
    if (outcome.refused) throw outcome.refused
    if (outcome.fatal?.reply) return passthrough(c, outcome.fatal.reply)
    if (outcome.fatal) throw failureError(outcome.fatal)
    if (onAllFailed === 'error' && everyOutputFailed(calls, outcome)) throw allFailedError(outcome.errors)
    const merged = mergeResults(
      calls.filter((call) => call.output && outcome.results.has(call.name)).map((call) => [call.name, call.shape(outcome.results.get(call.name)!.body), appends[call.index]]),
    )
    if (outcome.errors.length > 0) setOwn(merged, errorsKey, listedFailures(outcome.errors))
    const headers = answerHeaders(outcome, c.get('log'))
    c.get('log').aggregate = outcome.errors.length > 0 ? 'partial' : 'complete'
    return new Response(c.req.method === 'HEAD' ? null : JSON.stringify(merged), { status: 200, headers })
  }
}
