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
 *   composed once) on a Hono `Context` made for it, with the variables the app's outer middleware
 *   would have set, and none of that middleware.
 *
 * This file decides which requests take the compiled path and matches their route; the two
 * servers themselves are `./route-server.ts`.
 *
 * Every other request (no route, the admin API, developer pages, HEAD, a path that needs
 * normalising errors, a config with Server-Timing or telemetry spans, or with global policies
 * other than `request-id`) goes to the Hono app, unchanged.
 *
 * It keeps every promise of the Hono path, in the same order (`./route-server.ts` lists them).
 */
import type { Hono } from 'hono'
import type { GatewayConfig } from '../config/schema'
import type { AppEnv } from '../core/context'
import { clientCountry, clientIp } from '../core/ip-address'
import type { Matcher, MatchInput } from '../routing/matcher'
import { normalizePath, rawPathOf } from '../routing/normalize'
import type { CompiledRoute } from './route'
import { routeServer, type RequestIdOptions, type RouteServerSettings } from './route-server'

type Fetch = Hono<AppEnv>['fetch']

export type FastPathSettings = Omit<RouteServerSettings, 'logRequests'> & {
  config: GatewayConfig
  match: Matcher<CompiledRoute>
  /** The admin API is mounted (its prefix is then the Hono app's). */
  admin: boolean
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
  const { runtime, writeLog, metrics } = settings
  const { passThrough, withPipeline } = routeServer({ runtime, writeLog, metrics, logRequests: config.gateway.log.requests }, requestId)

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
