/**
 * @module
 * Config checks of the `cache` policy that span fields or the route it sits on. The important one:
 * `scope: "public"` promises that a response is the same for everyone, which a route breaks when
 * what it sends upstream depends on who is calling (`{consumer.id}` in a path rewrite, a header set
 * from `{claims.sub}`, a `jwt` policy's `forwardClaims`): such a route must use `scope: "consumer"`.
 */
import type { PolicyView, RouteView } from '../core/config-view'
import type { Phase, ValidationContext } from '../core/policy'
import { compileTemplate, templateRoots } from '../template/template'
import type { CacheOptions } from './schema'

type PhaseOf = (policy: PolicyView) => Phase | undefined

const PER_CALLER_ROOTS = ['consumer', 'claims']

/** Every string in a config value with where it sits (`.path`, `.headers.X`). */
function* strings(value: unknown, at: string): Generator<[string, string]> {
  if (typeof value === 'string') yield [at, value]
  else if (Array.isArray(value)) for (let i = 0; i < value.length; i++) yield* strings(value[i], `${at}[${i}]`)
  else if (value && typeof value === 'object') for (const [k, item] of Object.entries(value)) yield* strings(item, `${at}.${k}`)
}

function readsCaller(source: string): string | undefined {
  try {
    return templateRoots(compileTemplate(source).refs).find((root) => PER_CALLER_ROOTS.includes(root))
  } catch {
    return undefined
  }
}

/** The route's action, then the global policies, then its own: each with where it sits. */
function* placesOf(route: RouteView, routeAt: string, globals: readonly PolicyView[], phaseOf: PhaseOf): Generator<{ at: string; value: unknown; shapesRequest: boolean }> {
  yield { at: `${routeAt}.action`, value: route.action, shapesRequest: true }
  const transform = (p: PolicyView) => phaseOf(p) === 'transform'
  for (const [i, p] of globals.entries()) yield { at: `policies[${i}]`, value: p, shapesRequest: transform(p) }
  for (const [i, p] of route.policies.entries()) yield { at: `${routeAt}.policies[${i}]`, value: p, shapesRequest: transform(p) }
}

/** The first place where `route` makes its upstream request or response depend on the caller. */
function perCallerUse(route: RouteView, routeAt: string, globals: readonly PolicyView[], phaseOf: PhaseOf): string | undefined {
  for (const { at, value, shapesRequest } of placesOf(route, routeAt, globals, phaseOf)) {
    const claims = (value as { type?: string; forwardClaims?: Record<string, string> }).forwardClaims
    // Identity forwarded by the auth policy reaches the origin just like a `{claims.sub}` header.
    if ((value as { type?: string }).type === 'jwt' && claims && Object.keys(claims).length > 0) return `${at}.forwardClaims sends claims to the origin`
    if (!shapesRequest) continue
    for (const [where, source] of strings(value, at)) {
      const root = readsCaller(source)
      if (root) return `${where} reads {${root}...}`
    }
  }
  return undefined
}

/** Where the route sends upstream something of the request: (place, template source) pairs. */
function* upstreamTemplates(route: RouteView, routeAt: string, globals: readonly PolicyView[], phaseOf: PhaseOf): Generator<[string, string]> {
  for (const { at, value, shapesRequest } of placesOf(route, routeAt, globals, phaseOf)) if (shapesRequest) yield* strings(value, at)
}

/**
 * A request header or query parameter that a template sends upstream but the key leaves out: two
 * requests differing only there would share one entry although the origin saw different requests.
 * Credential headers and parameters are left to the scope rules (such requests bypass, or are
 * partitioned by consumer).
 */
function keyGap(options: CacheOptions, route: RouteView, routeAt: string, globals: readonly PolicyView[], phaseOf: PhaseOf): { field: string; message: string } | undefined {
  const keyed = new Set(options.keyHeaders.map((h) => h.toLowerCase()))
  const credentialHeaders = new Set(['authorization', 'proxy-authorization', 'cookie', ...options.credentials.headers.map((h) => h.toLowerCase())])
  const { include, exclude } = options.query
  for (const [where, source] of upstreamTemplates(route, routeAt, globals, phaseOf)) {
    let refs
    try {
      refs = compileTemplate(source).refs
    } catch {
      continue
    }
    for (const ref of refs) {
      const [root, second] = ref.steps
      if (root?.kind !== 'key' || second?.kind !== 'key') continue
      const name = second.name.toLowerCase()
      if (root.name === 'headers' && !keyed.has(name) && !credentialHeaders.has(name)) {
        return { field: '.keyHeaders', message: `${where} sends {${ref.source}} upstream, but "${name}" is not part of the cache key; add it to keyHeaders` }
      }
      if (root.name === 'query' && !options.credentials.query.includes(second.name) && ((include && !include.includes(second.name)) || exclude?.includes(second.name))) {
        return { field: '.query', message: `${where} sends {${ref.source}} upstream, but the query parameter "${second.name}" is left out of the cache key` }
      }
    }
  }
  return undefined
}

export function checkCacheOptions(options: CacheOptions, ctx: ValidationContext): void {
  if (options.query.include && options.query.exclude) ctx.error('.query', 'set "include" or "exclude", not both')
  if (options.defaultTtl > options.maxTtl) ctx.error('.defaultTtl', `${options.defaultTtl} s is over maxTtl (${options.maxTtl} s)`)
  const credentialHeaders = new Set(['authorization', 'proxy-authorization', 'cookie', ...options.credentials.headers.map((h) => h.toLowerCase())])
  options.keyHeaders.forEach((name, i) => {
    if (credentialHeaders.has(name.toLowerCase())) {
      ctx.error(`.keyHeaders[${i}]`, `"${name}" carries credentials and must not be part of a key; use scope "consumer" to cache per consumer`)
    }
  })
  const routes = ctx.route ? [ctx.route] : ctx.config.routes
  for (const route of routes) {
    const gap = keyGap(options, route, `routes[${ctx.config.routes.indexOf(route)}]`, ctx.config.policies, ctx.phaseOf)
    if (gap) {
      ctx.error(gap.field, gap.message)
      break
    }
  }
  if (options.scope !== 'public') return
  for (const route of routes) {
    const use = perCallerUse(route, `routes[${ctx.config.routes.indexOf(route)}]`, ctx.config.policies, ctx.phaseOf)
    if (use) {
      ctx.error('.scope', `"public" shares one response between consumers, but ${use}; use scope "consumer"`)
      return
    }
  }
}

/**
 * Request headers a transform (of the route, or global) may write, lower-cased. Transforms run
 * after the lookup, so a response that varies on one of these can't be keyed: the value the origin
 * saw was made from inputs the key doesn't hold. Such a response is not stored.
 */
export function transformedHeaders(global: readonly PolicyView[], route: Pick<RouteView, 'policies'> | undefined, phaseOf: PhaseOf): Set<string> {
  const out = new Set<string>()
  type Edits = { set?: Record<string, string>; add?: Record<string, string>; rename?: Record<string, string> }
  for (const policy of [...global, ...(route?.policies ?? [])]) {
    if (phaseOf(policy) !== 'transform') continue
    const request = (policy as { request?: Edits & { headers?: Edits } }).request
    for (const edits of [request, request?.headers]) {
      for (const name of [...Object.keys(edits?.set ?? {}), ...Object.keys(edits?.add ?? {}), ...Object.values(edits?.rename ?? {})]) out.add(name.toLowerCase())
    }
    const header = (policy as { header?: unknown }).header
    if (typeof header === 'string') out.add(header.toLowerCase())
  }
  return out
}
