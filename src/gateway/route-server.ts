/**
 * @module
 * The two servers of a request on the compiled path (`./fast-path.ts` picks the requests and
 * matches their route): `passThrough` for a route with no policies and a plain upstream, and
 * `withPipeline` for any other, each keeping what the Hono path promises in the same order:
 * request id (the `request-id` policy's options), forwarding headers and hop-by-hop stripping
 * (`forwardedHeaders`), trace context (`continueTrace`), the header and idle timeouts,
 * problem+json errors (`renderError`), the API version's response headers, the log line (the same
 * record, 499 when the client goes away first), and metrics (`Server-Timing` on a pass-through,
 * the record handed to the sinks) as the metrics middleware would.
 */
import { Context, type ExecutionContext as HonoExecutionContext } from 'hono'
import type { AppEnv } from '../core/context'
import { CLIENT_CLOSED_STATUS, logClientGone, type LogWriter, type RequestLog, type UpstreamLog } from '../core/logging'
import type { Runtime, WaitUntilTarget } from '../core/runtime'
import type { Metrics } from '../observability/metrics'
import { recordOf } from '../observability/record'
import { serverTimingValue } from '../observability/stage-timing'
import { continueTrace, type TraceContext } from '../observability/trace'
import { SAFE_ID } from '../traffic/request-id'
import { PassThroughCall, stripPathPrefix } from '../upstream/pass-through'
import { renderError } from './handle-error'
import { forwardedHeaders } from './request-context'
import type { CompiledRoute, PassThroughRoute } from './route'

/** The `request-id` policy's options, when the config has it (the only global policy served here). */
export type RequestIdOptions = { header: string; trustIncoming: boolean; forward: boolean; expose: boolean }

/** What the route servers write to and read from, fixed per config. */
export type RouteServerSettings = {
  runtime: Runtime
  writeLog: LogWriter
  /** The config's metrics, when configured (sinks or Server-Timing). */
  metrics: Metrics | undefined
  /** `gateway.log.requests`: whether each request's log line is written. */
  logRequests: boolean
}

const noNext = async () => {}

/** The two servers for one config's routes; `rid`, the `request-id` policy's options when the config has it. */
export function routeServer(settings: RouteServerSettings, rid: RequestIdOptions | undefined) {
  const { runtime, writeLog, metrics, logRequests } = settings
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
