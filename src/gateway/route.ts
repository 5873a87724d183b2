/**
 * @module
 * A route compiled once per isolate: its pipeline and action composed into one handler, and the
 * response headers its API version adds (`Deprecation`, `Sunset`, `Link`).
 */
import type { Handler, MiddlewareHandler } from 'hono'
import { proxyAction } from '../upstream/proxy-action'
import { aggregateAction } from '../aggregate/action'
import { redirectAction, respondAction } from '../routing/respond'
import type { GatewayConfig, RouteConfig } from '../config/schema'
import type { AppEnv, MatchedRoute } from '../core/context'
import { customActionHandler } from '../core/custom'
import { withoutLogEvents } from '../core/logging'
import { own } from '../core/record'
import { handleError } from './handle-error'
import type { Pipeline } from './pipeline'
import type { CompiledUpstream, Target } from '../upstream/upstream'
import { plainTarget } from '../upstream/pass-through'

export type CompiledRoute = MatchedRoute & {
  config: RouteConfig
  /** Policies then action, composed. Sets `c.res`. */
  handler: MiddlewareHandler<AppEnv>
  /** Headers every response of this route carries (version deprecation). */
  responseHeaders: [string, string][]
  /**
   * Set when the route has no policies (its own or global ones after routing) and proxies to a
   * plain upstream as is: the gateway's compiled pass-through serves it (`./fast-path.ts`).
   */
  passThrough?: PassThroughRoute | undefined
}

/** What the compiled pass-through needs of a route: its upstream, that upstream's one target, the prefix to strip. */
export type PassThroughRoute = { upstream: CompiledUpstream; target: Target; stripPrefix: string | undefined }

function passThroughOf(route: RouteConfig, policyCount: number, upstreams: Map<string, CompiledUpstream>): PassThroughRoute | undefined {
  const action = route.action
  if (policyCount > 0 || action.type !== 'proxy' || route.deadline !== undefined) return undefined
  if (action.path !== undefined || action.split?.length || action.mirror || action.websocket || action.hedge) return undefined
  const upstream = upstreams.get(action.upstream)!
  const target = plainTarget(upstream)
  return target && { upstream, target, stripPrefix: action.stripPrefix }
}

function versionHeaders(config: GatewayConfig, route: RouteConfig): [string, string][] {
  const version = route.version !== undefined ? own(config.versioning?.versions, route.version) : undefined
  if (!version) return []
  const headers: [string, string][] = []
  if (version.deprecated) headers.push(['Deprecation', `@${Math.floor(Date.parse(version.deprecated) / 1000)}`])
  if (version.sunset) headers.push(['Sunset', new Date(version.sunset).toUTCString()])
  if (version.link) headers.push(['Link', `<${version.link}>; rel="deprecation"`])
  return headers
}

function actionHandler(route: RouteConfig, index: number, upstreams: Map<string, CompiledUpstream>, config: GatewayConfig): Handler<AppEnv> {
  const action = route.action
  switch (action.type) {
    case 'proxy':
      return proxyAction(action, upstreams.get(action.upstream)!, route.deadline, upstreams)
    case 'respond':
      return respondAction(action)
    case 'redirect':
      return redirectAction(action)
    case 'aggregate':
      return aggregateAction(action, route, config, upstreams)
    default:
      return customActionHandler(action, { config, route, at: `routes[${index}].action` })
  }
}

/**
 * Composes middleware once, at compile time. Hono's `every()` builds a fresh compose chain (one
 * closure per middleware) on every call; this does the same work with the chain built once.
 * Same semantics as `every()`: `false` throws, `true` continues, a returned Response becomes `c.res`.
 *
 * Errors take the path Hono's own composition gives app-level middleware: what a middleware (or
 * anything below it) throws becomes the error response in `c.res` right there, rendered by
 * `handleError`, so the code after each outer `await next()` (CORS and rate-limit headers, the
 * cache's store decision, logging) runs on error responses too, and the composed handler never
 * throws.
 */
function composeOnce(middleware: MiddlewareHandler<AppEnv>[]): MiddlewareHandler<AppEnv> {
  const count = middleware.length
  return function composed(c, next) {
    let index = -1
    const dispatch = async (i: number): Promise<void> => {
      if (i <= index) throw new Error('next() called multiple times')
      index = i
      if (i === count) {
        await next()
        return
      }
      let res: unknown
      try {
        res = await middleware[i]!(c, () => dispatch(i + 1))
        if (res === false) throw new Error('Unmet condition')
      } catch (err) {
        c.res = undefined
        c.res = handleError(err, c)
        return
      }
      if (res === true) {
        if (!c.finalized) await dispatch(i + 1)
        return
      }
      if (res && !c.finalized) c.res = res as Response
    }
    return dispatch(0)
  }
}

export function compileRoute(
  config: GatewayConfig,
  route: RouteConfig,
  index: number,
  pipeline: Pipeline,
  upstreams: Map<string, CompiledUpstream>,
): CompiledRoute {
  const policies = pipeline.forRoute(route, index)
  const action = actionHandler(route, index, upstreams, config) as MiddlewareHandler<AppEnv>
  const downstream = new Map<number, MiddlewareHandler<AppEnv>>()
  return {
    id: route.id,
    index,
    config: route,
    handler: composeOnce([...policies, action]),
    responseHeaders: versionHeaders(config, route),
    passThrough: passThroughOf(route, policies.length, upstreams),
    downstreamOf(policy) {
      const i = policies.indexOf(policy)
      if (i < 0) return undefined
      let rest = downstream.get(i)
      if (!rest) downstream.set(i, (rest = composeOnce([...policies.slice(i + 1), action])))
      return rest
    },
  }
}

/**
 * A route compiled on its first match. A compiled route holds its pipeline's closures (about
 * 2.5 KB), so a config of 26,000 routes, most rarely hit, would hold some 65 MB of them, and a
 * reload builds the new set beside the old one, which makes the garbage collector pause requests.
 * The caller compiles each route once beforehand to check it (and drops the result), so what only
 * compiling finds (a Worker secret that is not set) still refuses the whole config up front; the
 * setup warnings that compile logged are not logged again on the first match.
 *
 * A class, not an object of closures: one small object per route (`compile` is shared by all).
 */
export class RouteCompiledOnFirstMatch implements CompiledRoute {
  private compiled: CompiledRoute | undefined = undefined

  constructor(
    readonly config: RouteConfig,
    readonly index: number,
    private readonly compile: (route: RouteConfig, index: number) => CompiledRoute,
  ) {}

  get id(): string {
    return this.config.id
  }

  private get route(): CompiledRoute {
    return (this.compiled ??= withoutLogEvents(() => this.compile(this.config, this.index)))
  }

  get handler(): MiddlewareHandler<AppEnv> {
    return this.route.handler
  }

  get responseHeaders(): [string, string][] {
    return this.route.responseHeaders
  }

  get passThrough(): PassThroughRoute | undefined {
    return this.route.passThrough
  }

  downstreamOf(policy: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> | undefined {
    return this.route.downstreamOf(policy)
  }
}
