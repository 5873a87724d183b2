/**
 * @module
 * `createGateway(config, env)`: compiles a validated config, once per isolate, into a Hono app.
 *
 *   request context (id, log) -> global request-phase policies -> admin API
 *     -> path normalisation -> route matching (404 / 405) -> the route's pipeline and action
 *
 * Nothing is parsed per request except the request itself. A route with no policies and a plain
 * upstream is served in front of all this, by the compiled pass-through (`./fast-path.ts`).
 */
import { Hono, type Context, type Handler } from 'hono'
import { adminApi } from './admin'
import type { GatewayConfig, RouteConfig } from '../config/schema'
import type { AppEnv } from '../core/context'
import type { Env } from '../core/env'
import { handleError } from './handle-error'
import { ConfigError, GatewayError } from '../core/errors'
import { editResponseHeaders } from '../core/http'
import { clientCountry, clientIp } from '../core/ip-address'
import { consoleLogWriter, type LogWriter } from '../core/logging'
import { createMetrics } from '../observability/metrics'
import type { MetricsSink } from '../observability/sink'
import { traceContext } from '../observability/trace'
import { telemetryMiddleware } from '../observability/telemetry'
import { developerPages } from '../openapi/serve'
import { developerAccounts } from '../auth/portal-keys'
import { compileFastPath } from './fast-path'
import { createPipeline } from './pipeline'
import { requestContext } from './request-context'
import { createMatcherSteps, type Matcher } from '../routing/matcher'
import { normalizePath, rawPathOf } from '../routing/normalize'
import { compileRoute, RouteCompiledOnFirstMatch, type CompiledRoute } from './route'
import { compileUpstream, linkFallbacks, UpstreamConfigError, type CompiledUpstream } from '../upstream/upstream'
import { upstreamStatus } from '../upstream/admin'
import { systemRuntime, type Runtime } from '../core/runtime'
import { runSteps, slices, type Steps } from '../core/steps'

export type GatewayOptions = {
  writeLog?: LogWriter
  /** The active config's version, shown by the admin API. */
  configVersion?: string
  /** The config as written (before defaults), or a function reading it, shown redacted by the admin API. */
  source?: unknown
  /** Metrics sinks used instead of the configured ones (tests inject recording or failing writers). */
  metricsSinks?: MetricsSink[]
  /**
   * The clock, random source, timers and `waitUntil` the gateway reads (default: `systemRuntime`).
   * Tests hand in one they control; every request reaches it as `c.get('runtime')`.
   */
  runtime?: Runtime
}

function compileUpstreams(config: GatewayConfig, env: Env, runtime: Runtime): Map<string, CompiledUpstream> {
  const problems: string[] = []
  const upstreams = new Map<string, CompiledUpstream>()
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    try {
      upstreams.set(name, compileUpstream(name, upstream, env, config.gateway.name, runtime))
    } catch (err) {
      if (!(err instanceof UpstreamConfigError)) throw err
      problems.push(`${err.field}: ${err.message}`)
    }
  }
  if (problems.length > 0) throw new ConfigError(problems)
  linkFallbacks(upstreams)
  return upstreams
}

/**
 * Above this many routes, each route is compiled on its first match (`RouteCompiledOnFirstMatch`): a
 * large config's compiled routes would take tens of MB. Below it, all are compiled up front.
 */
export const COMPILE_ON_FIRST_MATCH_ABOVE = 1000

export function createGateway(config: GatewayConfig, env: Env, options: GatewayOptions = {}): Hono<AppEnv> {
  return runSteps(createGatewaySteps(config, env, options))
}

/**
 * `createGateway` as steps that yield between slices of the routes (`core/steps.ts`), so a hot
 * reload of a large config compiles between the requests the running config serves.
 */
export function* createGatewaySteps(config: GatewayConfig, env: Env, options: GatewayOptions = {}): Steps<Hono<AppEnv>> {
  const runtime = options.runtime ?? systemRuntime
  const upstreams = compileUpstreams(config, env, runtime)
  const pipeline = createPipeline(config, env)
  const routes: CompiledRoute[] = []
  const onFirstMatch = config.routes.length > COMPILE_ON_FIRST_MATCH_ABOVE
  const compile = (route: RouteConfig, index: number) => compileRoute(config, route, index, pipeline, upstreams)
  for (const [slice, start] of slices(config.routes)) {
    slice.forEach((route, j) => {
      const compiled = compile(route, start + j)
      routes.push(onFirstMatch ? new RouteCompiledOnFirstMatch(route, start + j, compile) : compiled)
    })
    yield
  }
  const match = yield* createMatcherSteps(routes, config.versioning)

  const admin = adminApi({ config, env, configVersion: options.configVersion ?? 'unversioned', source: options.source ?? config, upstreamStatus: upstreamStatus(upstreams) })
  const metrics = createMetrics(config.gateway.metrics, env, {
    sinks: options.metricsSinks,
    adminPrefix: admin ? config.gateway.admin.prefix : undefined,
    runtime,
  })

  const app = new Hono<AppEnv>()
  app.onError(handleError)
  // Outermost, so it sees the finished response and log record.
  if (metrics) app.use(metrics.middleware)
  app.use(requestContext({ logRequests: config.gateway.log.requests, writeLog: options.writeLog ?? consoleLogWriter, runtime }))
  app.use(traceContext())
  const telemetry = telemetryMiddleware(config, env, { runtime, adminPrefix: admin ? config.gateway.admin.prefix : undefined })
  if (telemetry) app.use(telemetry)
  for (const policy of pipeline.preRouting) app.use(policy)

  if (admin) app.route(config.gateway.admin.prefix, admin)
  // Sign-in and self-service keys first: the portal's pages answer everything else under its path.
  developerAccounts(app, config, env)
  developerPages(app, config, env, options.configVersion ?? 'unversioned')

  app.all('*', dispatch(match))
  const writeLog = options.writeLog ?? consoleLogWriter
  const fast = compileFastPath({ config, match, runtime, writeLog, admin: admin !== undefined, metrics }, app.fetch)
  if (fast) app.fetch = fast
  return app
}

/** The route a request matches, with its params: 405 with `Allow` or 404 when none does. */
function matchRoute(c: Context<AppEnv>, match: Matcher<CompiledRoute>, path: string) {
  const url = c.get('url')
  const result = match({
    method: c.req.method,
    path,
    headers: c.req.raw.headers,
    // Read only by routes with host or query conditions.
    get host() {
      return url.hostname.toLowerCase()
    },
    get query() {
      return url.searchParams
    },
    // Read only by routes with `sourceIp` or `country` conditions.
    get clientIp() {
      return clientIp(c.req.raw.headers)
    },
    get country() {
      return clientCountry(c.req.raw)
    },
  })
  if (result.route) return result
  if (result.allow.length > 0) {
    throw new GatewayError('ERR_METHOD_NOT_ALLOWED', { detail: `${c.req.method} is not allowed here.`, headers: { Allow: result.allow.join(', ') } })
  }
  throw new GatewayError('ERR_ROUTE_NOT_FOUND', { detail: 'No route matches this request.' })
}

/**
 * After the global request policies: normalise the path, match a route, run its pipeline and
 * action, then add the headers its API version carries. On the request path, `c.get(name)` rather
 * than `c.var.name`: Hono's `c.var` copies every variable into a new object on each access.
 */
function dispatch(match: Matcher<CompiledRoute>): Handler<AppEnv> {
  return async function dispatch(c) {
    const path = normalizePath(rawPathOf(c.req.url))
    c.get('upstreamRequest').path = path
    c.get('log').path = path
    const { route, params } = matchRoute(c, match, path)
    c.set('route', route)
    c.set('params', params)
    c.get('log').routeId = route.id
    // The route's handler renders its own errors (see `composeOnce`), so its headers go on them too.
    await route.handler(c, async () => {})
    const headers = route.responseHeaders
    if (headers.length > 0) editResponseHeaders(c, (h) => headers.forEach(([name, value]) => h.set(name, value)))
    return c.res
  }
}
