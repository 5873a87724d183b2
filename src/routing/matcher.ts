/**
 * @module
 * Route matching, ALB-listener style: path pattern (`path-index.ts`, TrieRouter's semantics), method, host,
 * headers, query, the client's address (`sourceIp`) and country, plus the API version. A request
 * with no (or an unparsable) client address, or no country, matches no `sourceIp`/`country` list.
 *
 * Precedence: the first route in config order whose every condition holds wins (the path index
 * returns candidates in registration order). A request whose path, host, headers and query match
 * some route but whose method matches none gets 405 with `Allow`; otherwise 404.
 *
 * Versions: with `versioning.prefix`, `/v1/users` selects version `v1` and is matched against the
 * `v1` routes as `/users`; otherwise a version header (`api-version`, `accept-version`) or the
 * default version selects it. Routes without a `version` match whatever the version. An unknown
 * header version is a 400 only on a path that a versioned route matches.
 */
import { TrieRouter } from 'hono/router/trie-router'
import { splitRoutingPath } from 'hono/utils/url'
import type { PolicyView } from '../core/config-view'
import { GatewayError } from '../core/errors'
import { inAnyRange } from '../core/ip-address'
import { regexProblem, testBounded } from '../core/regex'
import { runSteps, slices, type Steps } from '../core/steps'
import { canonicalPattern } from './normalize'
import { PathIndex } from './path-index'
import type { MatchConfig, VersioningConfig } from './schema'

export type MatchInput = {
  method: string
  /** Normalised path. */
  path: string
  host: string
  headers: Headers
  query: URLSearchParams
  /** The client's address (`clientIp` in `core/ip-address.ts`), read only by `sourceIp` conditions. */
  clientIp: Uint8Array | undefined
  /** `request.cf.country`, read only by `country` conditions. */
  country: string | undefined
}

/** What the matcher needs of a route: its config's conditions, version and policies. */
export type Routable = { config: { readonly match: MatchConfig; readonly version?: string | undefined; readonly policies: readonly PolicyView[] } }

export type MatchResult<R extends Routable = Routable> =
  | { route: R; params: Record<string, string>; version: string | undefined }
  | { route: undefined; allow: string[] }

type Condition = (input: MatchInput) => boolean

type Candidate<R extends Routable> = {
  route: R
  methods: ReadonlySet<string> | undefined
  conditions: readonly Condition[]
  /** Segments before a trailing `/*`, to expose the tail as `params['*']`. */
  tailAfter: number | undefined
  /** Registered under `/<version>` for prefix selection. */
  viaPrefix: boolean
  /** The route has a `cors` policy, which answers preflights for the methods it matches. */
  answersPreflight: boolean
}

function hostCondition(hosts: string | string[]): Condition {
  const patterns = (Array.isArray(hosts) ? hosts : [hosts]).map((h) => h.toLowerCase())
  const exact = new Set(patterns.filter((p) => !p.startsWith('*.')))
  const suffixes = patterns.filter((p) => p.startsWith('*.')).map((p) => p.slice(1))
  return ({ host }) => exact.has(host) || suffixes.some((suffix) => host.endsWith(suffix) && host.length > suffix.length)
}

function headerConditions(headers: NonNullable<MatchConfig['headers']>): Condition[] {
  return Object.entries(headers).map(([name, rule]) => {
    if (typeof rule === 'string') return ({ headers: h }) => h.get(name) === rule
    const regex = rule.regex !== undefined ? new RegExp(rule.regex) : undefined
    return ({ headers: h }) => {
      const value = h.get(name)
      if (rule.present === false) return value === null
      if (value === null) return false
      if (rule.equals !== undefined && value !== rule.equals) return false
      return regex === undefined || testBounded(regex, value)
    }
  })
}

function queryConditions(query: NonNullable<MatchConfig['query']>): Condition[] {
  return Object.entries(query).map(([name, rule]) => {
    if (typeof rule === 'string') return ({ query: q }) => q.getAll(name).includes(rule)
    return ({ query: q }) => {
      if (rule.present === false) return !q.has(name)
      if (!q.has(name)) return false
      return rule.equals === undefined || q.getAll(name).includes(rule.equals)
    }
  })
}

function sourceIpCondition(list: readonly string[]): Condition {
  const inList = inAnyRange(list)
  return (input) => inList(input.clientIp)
}

function countryCondition(list: readonly string[]): Condition {
  const countries = new Set(list)
  return ({ country }) => country !== undefined && countries.has(country)
}

/** How many segments precede a trailing `/*` (undefined when the pattern has none). */
function tailSegments(pattern: string): number | undefined {
  if (pattern === '*' || pattern === '/*') return 0
  if (!pattern.endsWith('/*')) return undefined
  return pattern.slice(1, -2).split('/').length
}

function decodeParam(value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}

export type Matcher<R extends Routable = Routable> = (input: MatchInput) => MatchResult<R>

/**
 * Every route under its pattern, in config order; a versioned route also under `/<version>` with
 * `versioning.prefix`. A slice of routes at a time (see `core/steps.ts`).
 */
function* indexOf<R extends Routable>(routes: R[], versioning: VersioningConfig | undefined): Steps<RouteIndex<R>> {
  const index: RouteIndex<R> = { paths: new PathIndex(), candidates: [] }
  const methodSets: MethodSets = new Map()
  for (const [slice] of slices(routes)) {
    for (const route of slice) addRoute(index, route, versioning, methodSets)
    yield
  }
  return index
}

/** The path index, and the candidate each of its entries stands for. */
type RouteIndex<R extends Routable> = { paths: PathIndex; candidates: Candidate<R>[] }

/** No conditions: one shared array, not one per route (a config may have tens of thousands). */
const NO_CONDITIONS: readonly Condition[] = []

/** One set of methods per distinct list, shared by the routes that list the same methods. */
type MethodSets = Map<string, ReadonlySet<string>>

function methodSet(methods: readonly string[], shared: MethodSets): ReadonlySet<string> {
  const key = methods.join(' ')
  let set = shared.get(key)
  if (!set) shared.set(key, (set = new Set<string>(methods.includes('GET') ? [...methods, 'HEAD'] : methods)))
  return set
}

function conditionsOf(match: MatchConfig): readonly Condition[] {
  if (match.host === undefined && !match.headers && !match.query && !match.sourceIp && !match.country) return NO_CONDITIONS
  return [
    ...(match.host !== undefined ? [hostCondition(match.host)] : []),
    ...(match.headers ? headerConditions(match.headers) : []),
    ...(match.query ? queryConditions(match.query) : []),
    ...(match.sourceIp ? [sourceIpCondition(match.sourceIp)] : []),
    ...(match.country ? [countryCondition(match.country)] : []),
  ]
}

function addRoute<R extends Routable>(index: RouteIndex<R>, route: R, versioning: VersioningConfig | undefined, methodSets: MethodSets): void {
  const match = route.config.match
  const methods = match.methods && methodSet(match.methods, methodSets)
  const conditions = conditionsOf(match)
  const answersPreflight = route.config.policies.some((policy) => policy.type === 'cors')
  const pattern = canonicalPattern(match.path)
  const tail = tailSegments(pattern)
  const add = (path: string, tailAfter: number | undefined, viaPrefix: boolean) => {
    index.paths.add(path, index.candidates.length)
    index.candidates.push({ route, methods, conditions, tailAfter, viaPrefix, answersPreflight })
  }
  if (route.config.version !== undefined && versioning?.prefix) {
    add(`/${route.config.version}${pattern === '/' ? '' : pattern}`, tail === undefined ? undefined : tail + 1, true)
  }
  add(pattern, tail, false)
}

/**
 * Why the router would refuse the route's path pattern, or undefined: the pattern is added to a
 * router as `createMatcher` adds it (Hono compiles a parameter's `{regex}` when it is added), and
 * each parameter's regex must be safe to run on request paths (`core/regex.ts`).
 */
export function pathPatternProblem(path: string): string | undefined {
  const pattern = canonicalPattern(path)
  try {
    new TrieRouter<true>().add('ALL', pattern, true)
  } catch (err) {
    return `invalid pattern: ${(err as Error).message}`
  }
  for (const label of splitRoutingPath(pattern)) {
    // Hono's own reading of a `:name{regex}` segment (`getPattern` in hono/utils/url).
    const regex = /^:([^{}]+)(?:\{(.+)\})?$/.exec(label)?.[2]
    const problem = regex !== undefined ? regexProblem(regex) : undefined
    if (problem) return `the pattern of ${label.slice(0, label.indexOf('{'))}: ${problem}`
  }
  return undefined
}

/** The version a request asks for, and how. */
type RequestedVersion = {
  /** Chosen by a `/<version>` prefix (which wins over any header). */
  pathVersion: string | undefined
  /** The prefix's, else a version header's, else the default. */
  requested: string | undefined
  /**
   * An unknown header version: only an error where a version is chosen, on a path that a
   * versioned route matches (not on unversioned routes, nor under a `/v1` prefix, which wins).
   */
  unknownVersion: GatewayError | undefined
}

function versionOf(input: MatchInput, versioning: VersioningConfig | undefined, versionNames: ReadonlySet<string>): RequestedVersion {
  const prefixVersion = versioning?.prefix ? input.path.split('/')[1] : undefined
  const pathVersion = prefixVersion !== undefined && versionNames.has(prefixVersion) ? prefixVersion : undefined
  let headerVersion: string | undefined
  let unknownVersion: GatewayError | undefined
  for (const name of versioning?.headers ?? []) {
    const value = input.headers.get(name)
    if (value === null) continue
    if (!versionNames.has(value)) {
      unknownVersion = new GatewayError('ERR_BAD_REQUEST', {
        detail: `Unknown API version "${value.slice(0, 64)}" in ${name} (known: ${[...versionNames].join(', ')}).`,
      })
    } else headerVersion = value
    break
  }
  return { pathVersion, requested: pathVersion ?? headerVersion ?? versioning?.default, unknownVersion }
}

/** Whether the candidate serves the requested version; throws the unknown-version 400 where a versioned route would choose. */
function servesVersion(candidate: Candidate<Routable>, { pathVersion, requested, unknownVersion }: RequestedVersion): boolean {
  const routeVersion = candidate.route.config.version
  if (candidate.viaPrefix) return routeVersion === pathVersion
  if (routeVersion === undefined) return true
  if (pathVersion === undefined && unknownVersion) throw unknownVersion
  return pathVersion === undefined && routeVersion === requested
}

/** The route's path parameters, decoded, and the tail after a trailing `/*` as `*`. */
function paramsOf(candidate: Candidate<Routable>, rawParams: Record<string, string>, path: string): Record<string, string> {
  const params: Record<string, string> = {}
  for (const [name, value] of Object.entries(rawParams)) params[name] = decodeParam(value)
  if (candidate.tailAfter !== undefined) {
    params['*'] = decodeParam(path.split('/').slice(candidate.tailAfter + 1).join('/'))
  }
  return params
}

export function createMatcher<R extends Routable>(routes: R[], versioning: VersioningConfig | undefined): Matcher<R> {
  return runSteps(createMatcherSteps(routes, versioning))
}

/** `createMatcher` as steps that yield between slices of the routes. */
export function* createMatcherSteps<R extends Routable>(routes: R[], versioning: VersioningConfig | undefined): Steps<Matcher<R>> {
  const { paths, candidates: entries } = yield* indexOf(routes, versioning)
  const versionNames = new Set(Object.keys(versioning?.versions ?? {}))

  return function match(input) {
    const version = versionOf(input, versioning, versionNames)
    // A CORS preflight asks about another method: a route whose own `cors` policy will answer it
    // matches by that method, so `match.methods` needn't list OPTIONS.
    const preflightFor =
      input.method === 'OPTIONS' && input.headers.has('origin') ? input.headers.get('access-control-request-method')?.toUpperCase() : undefined

    const allow = new Set<string>()
    for (const [entry, rawParams] of paths.match(input.path)) {
      const candidate = entries[entry]!
      if (!servesVersion(candidate, version)) continue
      if (!candidate.conditions.every((condition) => condition(input))) continue
      const method = preflightFor !== undefined && candidate.answersPreflight ? preflightFor : input.method
      if (candidate.methods && !candidate.methods.has(method)) {
        for (const method of candidate.methods) allow.add(method)
        continue
      }
      return { route: candidate.route, params: paramsOf(candidate, rawParams, input.path), version: candidate.route.config.version }
    }
    return { route: undefined, allow: [...allow] }
  }
}
