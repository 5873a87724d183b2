/**
 * @module
 * The compiled request path (issue 16): a request that matches a route is served here, in front
 * of the Hono app, by code built once per config: no Hono router, no app-level middleware chain,
 * no per-request closures for the steps every request takes, the upstream headers edited once,
 * the log record built once. Two kinds of route:
 *
 * - a route with no policies and a plain upstream (`CompiledRoute.passThrough`) is sent straight
 *   through `PassThroughCall`: one timer, one abort listener;
 * - any other route runs its own compiled pipeline (`CompiledRoute.handler`, policies then action,
 *   composed once) on a Hono `Context` made here, with the variables the app's outer middleware
 *   would have set, and none of that middleware.
 *
 * Every other request (no route, the admin API, developer pages, HEAD, a path that needs
 * normalising errors, a config with Server-Timing or telemetry spans, or with global policies
 * other than `request-id`) goes to the Hono app, unchanged.
 *
 * It keeps what the Hono path promises, in the same order: request id (the `request-id` policy's
 * options, the only global policy it serves), forwarding headers and hop-by-hop stripping
 * (`forwardedHeaders`), trace context (`continueTrace`), the header and idle timeouts, problem+json
 * errors (`renderError`), the API version's response headers, the log line (the same record, 499
 * when the client goes away first), and metrics (`Server-Timing` on a pass-through, the record
 * handed to the sinks), as the metrics middleware would.
 */
import { Context, type ExecutionContext as HonoExecutionContext, type Hono } from 'hono'
import type { GatewayConfig } from '../config/schema'
import type { AppEnv } from '../core/context'
import { clientCountry, clientIp } from '../core/ip-address'
import { CLIENT_CLOSED_STATUS, logClientGone, type LogWriter, type RequestLog, type UpstreamLog } from '../core/logging'
import type { Runtime, WaitUntilTarget } from '../core/runtime'
import type { Metrics } from '../observability/metrics'
import { recordOf } from '../observability/record'
import { serverTimingValue } from '../observability/stage-timing'
import { continueTrace, type TraceContext } from '../observability/trace'
import type { Matcher, MatchInput } from '../routing/matcher'
import { normalizePath, rawPathOf } from '../routing/normalize'
import { SAFE_ID } from '../traffic/request-id'
import { PassThroughCall, stripPathPrefix } from '../upstream/pass-through'
import { renderError } from './handle-error'
import { forwardedHeaders } from './request-context'
import type { CompiledRoute, PassThroughRoute } from './route'

type Fetch = Hono<AppEnv>['fetch']

type RequestIdOptions = { header: string; trustIncoming: boolean; forward: boolean; expose: boolean }

export type FastPathSettings = {
  config: GatewayConfig
  match: Matcher<CompiledRoute>
  runtime: Runtime
  writeLog: LogWriter
  /** The admin API is mounted (its prefix is then the Hono app's). */
  admin: boolean
  /** The config's metrics, when configured (sinks or Server-Timing). */
  metrics: Metrics | undefined
}

/** Paths the Hono app serves before routing: the admin API and the developer pages. */
function reservedPrefixes(config: GatewayConfig, admin: boolean): string[] {
  const { openapi, portal } = config.gateway
  return [admin ? config.gateway.admin.prefix : undefined, openapi?.path, portal?.path].filter((p): p is string => p !== undefined)
}

/**
 * The app's `fetch` with the compiled path in front, or undefined when this config can't have one
 * (a global policy other than `request-id`, or telemetry on).
 */
export function compileFastPath(settings: FastPathSettings, slow: Fetch): Fetch | undefined {
  const { config, match } = settings
  const globals = config.policies
  if (globals.length > 1 || globals.some((p) => p.type !== 'request-id')) return undefined
  // Spans (`gateway.telemetry`) come from the pipeline's stage timing and each try's hook: the app's.
  if (config.gateway.telemetry?.otlp) return undefined
  const requestId = globals[0] as RequestIdOptions | undefined
  const reserved = reservedPrefixes(config, settings.admin)
  // Conservative: a path Hono might decode onto a reserved prefix, or that starts with one, is the app's.
  const isReserved = (raw: string) => reserved.length > 0 && (raw.includes('%') || reserved.some((p) => raw.startsWith(p)))
  // Server-Timing's policy stages are timed by wrappers the app's middleware reads: such a config's
  // routes with policies stay on the app's path.
  const policies = settings.metrics?.serverTiming !== true
  const { passThrough, withPipeline } = routeServer(settings, requestId)

  return function fastPath(request, env, ctx) {
    if (request.method === 'HEAD') return slow(request, env, ctx)
    const raw = rawPathOf(request.url)
    if (isReserved(raw)) return slow(request, env, ctx)
    let path: string
    let url: URL
    let matched: ReturnType<Matcher<CompiledRoute>>
    try {
      path = normalizePath(raw)
      url = new URL(request.url)
      matched = match(new MatchFacts(request, url, path))
    } catch {
      return slow(request, env, ctx) // a bad path or an unknown version: its 400 is rendered there
    }
    const route = matched.route
    if (!route) return slow(request, env, ctx)
    const pass = route.passThrough
    if (pass) return passThrough(request, ctx, url, path, route, pass)
    // Hono's `c.req.path` is the decoded path: one with escapes keeps the app's, which decodes it.
    if (!policies || raw.includes('%')) return slow(request, env, ctx)
    return withPipeline(request, env, ctx, url, path, raw, route, matched.params)
  } as Fetch
}

/** What the matcher reads of a request; host, query, address and country only when a route's conditions ask. */
class MatchFacts implements MatchInput {
  readonly method: string
  readonly headers: Headers
  constructor(
    private readonly request: Request,
    private readonly url: URL,
    readonly path: string,
  ) {
    this.method = request.method
    this.headers = request.headers
  }
  get host() {
    return this.url.hostname.toLowerCase()
  }
  get query() {
    return this.url.searchParams
  }
  get clientIp() {
    return clientIp(this.headers)
  }
  get country() {
    return clientCountry(this.request)
  }
}

const noNext = async () => {}

function routeServer(settings: FastPathSettings, rid: RequestIdOptions | undefined) {
  const { runtime, writeLog, metrics } = settings
  const logRequests = settings.config.gateway.log.requests
  // With Server-Timing, the request-id policy's work is the `request` stage, as `timedPolicy` times it.
  const timeRequestStage = metrics?.serverTiming === true && rid !== undefined

  /** The request id (as `requestIdPolicy`): a well-formed client id when trusted, else a new one. */
  function requestIdOf(request: Request): string {
    if (rid?.trustIncoming) {
      const incoming = request.headers.get(rid.header)
      if (incoming !== null && SAFE_ID.test(incoming)) return incoming
    }
    return runtime.randomId()
  }

  /** The origin's headers (`forwardedHeaders`), with the request id as the `request-id` policy sends it. */
  function upstreamHeaders(request: Request, url: URL, requestId: string): Headers {
    const headers = forwardedHeaders(request, url)
    if (rid?.forward) headers.set(rid.header, requestId)
    else if (rid) headers.delete(rid.header)
    return headers
  }

  /** The log record, built once, with its fields in the order the Hono path writes them. */
  function logRecord(request: Request, url: URL, path: string, requestId: string, trace: TraceContext, routeId: string): RequestLog {
    const log: RequestLog = { requestId, method: request.method, path }
    if (url.search.length > 1) log.queryKeys = [...new Set(url.searchParams.keys())]
    log.traceId = trace.traceId
    log.spanId = trace.spanId
    log.routeId = routeId
    return log
  }

  /** The API version's headers, then the request id (as the Hono path adds them). */
  function addResponseHeaders(headers: Headers, route: CompiledRoute, requestId: string): void {
    for (const [name, value] of route.responseHeaders) headers.set(name, value)
    if (rid?.expose) headers.set(rid.header, requestId)
  }

  /** The metrics record of this request (as `recordFrom`). */
  const record = (log: RequestLog, at: number, status: number, consumer: string | undefined) => () =>
    recordOf(log, { at, route: log.routeId, consumer, method: log.method, status, now: runtime.now() })

  /** A route with no policies and a plain upstream, sent straight through `PassThroughCall`. */
  async function passThrough(request: Request, ctx: WaitUntilTarget | undefined, url: URL, path: string, route: CompiledRoute, pass: PassThroughRoute): Promise<Response> {
    // The request context (as `requestContext`): start time, id, the upstream draft's headers.
    const startedAt = runtime.now()
    let stageStart = timeRequestStage ? performance.now() : 0
    const requestId = requestIdOf(request)
    const headers = upstreamHeaders(request, url, requestId)
    let requestStageMs = timeRequestStage ? performance.now() - stageStart : 0
    // Trace context (as `traceContext`). No spans here: a config with telemetry has no fast path.
    const trace = continueTrace(request.headers, headers)
    const upstreamLog: UpstreamLog = { name: pass.upstream.name, target: pass.target.label, tries: 1 }
    const log = logRecord(request, url, path, requestId, trace, route.id)
    log.upstream = upstreamLog

    const call = new PassThroughCall(pass.upstream, pass.target, upstreamLog)
    let written = false
    // One listener for the whole request: the upstream call aborted, the 499 line and record written.
    const onClientGone = () => {
      if (written) return
      written = true
      call.abort()
      logClientGone(log, runtime.now() - startedAt, logRequests ? writeLog : undefined)
      if (metrics?.recording) queueMicrotask(() => metrics.write(ctx, runtime, record(log, startedAt, CLIENT_CLOSED_STATUS, undefined)))
    }
    const signal = request.signal
    if (signal.aborted) call.abort()
    signal.addEventListener('abort', onClientGone)
    let res: Response
    try {
      const upstreamPath = pass.stripPrefix !== undefined ? stripPathPrefix(path, pass.stripPrefix) : path
      res = await call.send(request.method, upstreamPath, url.search, headers, request.body)
    } catch (err) {
      res = renderError(err, log, requestId)
    } finally {
      signal.removeEventListener('abort', onClientGone)
    }
    // The response's own copy (or a problem): edited in place, once.
    if (res.status !== 101) {
      stageStart = timeRequestStage ? performance.now() : 0
      if (rid?.expose) res.headers.set(rid.header, requestId)
      if (timeRequestStage) requestStageMs += performance.now() - stageStart
      for (const [name, value] of route.responseHeaders) res.headers.set(name, value)
    }
    if (written) return res
    written = true
    log.status = res.status
    log.durationMs = runtime.now() - startedAt
    if (logRequests) writeLog(log)
    if (metrics) {
      // As the metrics middleware does, once the log record is final.
      const stages = timeRequestStage ? { request: requestStageMs } : undefined
      if (metrics.serverTiming && res.status !== 101) res.headers.set('Server-Timing', serverTimingValue(stages, upstreamLog.durationMs, log.durationMs))
      if (metrics.recording) metrics.write(ctx, runtime, record(log, startedAt, res.status, undefined))
    }
    return res
  }

  /**
   * Any other route: its compiled pipeline on a Hono `Context` made here, with the variables the
   * app's outer middleware would have set. Never with Server-Timing (`compileFastPath`).
   */
  async function withPipeline(
    request: Request,
    env: unknown,
    ctx: HonoExecutionContext | undefined,
    url: URL,
    path: string,
    raw: string,
    route: CompiledRoute,
    params: Record<string, string>,
  ): Promise<Response> {
    // The request context (as `requestContext`), trace context (as `traceContext`).
    const startedAt = runtime.now()
    const requestId = requestIdOf(request)
    const headers = upstreamHeaders(request, url, requestId)
    const trace = continueTrace(request.headers, headers)
    const log = logRecord(request, url, path, requestId, trace, route.id)
    const c = new Context<AppEnv>(request, { path: raw, env: env as AppEnv['Bindings'], executionCtx: ctx })
    c.set('runtime', runtime)
    c.set('requestId', requestId)
    c.set('startedAt', startedAt)
    c.set('url', url)
    c.set('log', log)
    c.set('upstreamRequest', { method: request.method, path, search: url.search, headers })
    c.set('trace', trace)
    c.set('route', route)
    c.set('params', params)
    let written = false
    // One listener for the whole request: the 499 line and record written; the action aborts its
    // upstream call through `onClientGone`, as under the request context.
    const onClientGone = () => {
      if (written) return
      written = true
      logClientGone(log, runtime.now() - startedAt, logRequests ? writeLog : undefined)
      c.get('onClientGone')?.()
      const consumer = c.get('consumer')?.id
      if (metrics?.recording) queueMicrotask(() => metrics.write(ctx, runtime, record(log, startedAt, CLIENT_CLOSED_STATUS, consumer)))
    }
    const signal = request.signal
    signal.addEventListener('abort', onClientGone)
    let res: Response
    try {
      // `composeOnce` renders what the pipeline throws into `c.res`: this catch is for the impossible.
      await route.handler(c, noNext)
      if (!c.finalized) throw new Error('The route answered nothing.')
      res = c.res
    } catch (err) {
      res = renderError(err, log, c.get('requestId'))
    } finally {
      signal.removeEventListener('abort', onClientGone)
    }
    // The answer may be a fetched or cached one whose headers are immutable: then a copy. A route's
    // own `request-id` policy may have taken the client's id.
    if (res.status !== 101 && (rid?.expose || route.responseHeaders.length > 0)) {
      const finalId = c.get('requestId')
      try {
        addResponseHeaders(res.headers, route, finalId)
      } catch (err) {
        if (!(err instanceof TypeError)) throw err
        res = new Response(res.body, res)
        addResponseHeaders(res.headers, route, finalId)
      }
    }
    if (written) return res
    written = true
    log.status = res.status
    log.durationMs = runtime.now() - startedAt
    if (logRequests) writeLog(log)
    if (metrics?.recording) metrics.write(ctx, runtime, record(log, startedAt, res.status, c.get('consumer')?.id))
    return res
  }

  return { passThrough, withPipeline }
}
