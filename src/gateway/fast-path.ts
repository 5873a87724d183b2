/**
 * @module
 * The compiled pass-through (issue 16): a request that matches a route with no policies and a
 * plain upstream (`CompiledRoute.passThrough`) is served here, in front of the Hono app, by code
 * built once per config: no Hono context, no middleware chain, no context variables, the upstream
 * headers edited once, one timer and one abort listener, the log record built once. Every other
 * request (another route, no route, the admin API, developer pages, HEAD, a path that needs
 * normalising errors) goes to the Hono app, unchanged.
 *
 * It keeps what the Hono path promises for such a route, in the same order: request id (the
 * `request-id` policy's options, the only global policy it serves), forwarding headers and
 * hop-by-hop stripping (`forwardedHeaders`), trace context (`continueTrace`), the header and idle
 * timeouts (`PassThroughCall`), problem+json errors (`renderError`), the API version's response
 * headers, and the log line: the same record, 499 when the client goes away first. A config with
 * metrics (sinks or Server-Timing) has no fast path: the metrics middleware sees every request.
 */
import type { Hono } from 'hono'
import type { GatewayConfig } from '../config/schema'
import type { AppEnv } from '../core/context'
import type { Env } from '../core/env'
import { clientCountry, clientIp } from '../core/ip-address'
import { CLIENT_CLOSED_ERROR, CLIENT_CLOSED_STATUS, type LogWriter, type RequestLog, type UpstreamLog } from '../core/logging'
import type { Runtime } from '../core/runtime'
import { continueTrace } from '../observability/trace'
import type { Matcher, MatchInput } from '../routing/matcher'
import { normalizePath, rawPathOf } from '../routing/normalize'
import { SAFE_ID } from '../traffic/request-id'
import { PassThroughCall } from '../upstream/pass-through'
import { stripPathPrefix } from '../upstream/proxy-action'
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
  /** Metrics are configured (sinks or Server-Timing): no fast path. */
  metrics: boolean
}

/** Paths the Hono app serves before routing: the admin API and the developer pages. */
function reservedPrefixes(config: GatewayConfig, admin: boolean): string[] {
  const { openapi, portal } = config.gateway
  return [admin ? config.gateway.admin.prefix : undefined, openapi?.path, portal?.path].filter((p): p is string => p !== undefined)
}

/**
 * The app's `fetch` with the compiled pass-through in front, or undefined when this config can't
 * have one (metrics on, or a global policy other than `request-id`).
 */
export function compileFastPath(settings: FastPathSettings, slow: Fetch): Fetch | undefined {
  const { config, match } = settings
  const globals = config.policies
  if (settings.metrics || globals.length > 1 || globals.some((p) => p.type !== 'request-id')) return undefined
  const requestId = globals[0] as RequestIdOptions | undefined
  const reserved = reservedPrefixes(config, settings.admin)
  // Conservative: a path Hono might decode onto a reserved prefix, or that starts with one, is the app's.
  const isReserved = (raw: string) => reserved.length > 0 && (raw.includes('%') || reserved.some((p) => raw.startsWith(p)))
  const serve = passThroughServer(settings, requestId)

  return function fastPath(request, env, ctx) {
    if (request.method === 'HEAD') return slow(request, env, ctx)
    const raw = rawPathOf(request.url)
    if (isReserved(raw)) return slow(request, env, ctx)
    let path: string
    let url: URL
    let route: CompiledRoute | undefined
    try {
      path = normalizePath(raw)
      url = new URL(request.url)
      route = match(new MatchFacts(request, url, path)).route
    } catch {
      return slow(request, env, ctx) // a bad path or an unknown version: its 400 is rendered there
    }
    const pass = route?.passThrough
    if (!pass) return slow(request, env, ctx)
    return serve(request, url, path, route!, pass)
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

function passThroughServer(settings: FastPathSettings, requestIdOptions: RequestIdOptions | undefined) {
  const { runtime, writeLog } = settings
  const logRequests = settings.config.gateway.log.requests

  return async function passThrough(request: Request, url: URL, path: string, route: CompiledRoute, pass: PassThroughRoute): Promise<Response> {
    // The request context (as `requestContext`): start time, id, the upstream draft's headers.
    const startedAt = runtime.now()
    let requestId = runtime.randomId()
    const rid = requestIdOptions
    if (rid?.trustIncoming) {
      const incoming = request.headers.get(rid.header)
      if (incoming !== null && SAFE_ID.test(incoming)) requestId = incoming
    }
    const headers = forwardedHeaders(request, url)
    // Trace context (as `traceContext`). A span hook for this request belongs here, beside the ids.
    const trace = continueTrace(request.headers, headers)
    if (rid) {
      if (rid.forward) headers.set(rid.header, requestId)
      else headers.delete(rid.header)
    }
    // The log record, built once, with the fields in the order the Hono path writes them.
    const log: RequestLog = { requestId, method: request.method, path }
    if (url.search.length > 1) log.queryKeys = [...new Set(url.searchParams.keys())]
    log.traceId = trace.traceId
    log.spanId = trace.spanId
    log.routeId = route.id
    const upstreamLog: UpstreamLog = { name: pass.upstream.name, target: pass.target.label, tries: 1 }
    log.upstream = upstreamLog

    const call = new PassThroughCall(pass.upstream, pass.target, upstreamLog)
    let written = false
    // One listener for the whole request: the upstream call aborted, the 499 line written.
    const onClientGone = () => {
      if (written) return
      written = true
      call.abort()
      log.status = CLIENT_CLOSED_STATUS
      log.error = CLIENT_CLOSED_ERROR
      log.durationMs = runtime.now() - startedAt
      if (logRequests) queueMicrotask(() => writeLog(log))
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
      if (rid?.expose) res.headers.set(rid.header, requestId)
      for (const [name, value] of route.responseHeaders) res.headers.set(name, value)
    }
    if (written) return res
    written = true
    log.status = res.status
    log.durationMs = runtime.now() - startedAt
    // The request's span (telemetry) ends here, with the log line, as in `requestContext`.
    if (logRequests) writeLog(log)
    return res
  }
}
