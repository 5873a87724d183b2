/**
 * @module
 * Config validation: the schema's structural checks, then the checks that span fields (references,
 * template variables, versions, deadlines, the subrequest budget). Every problem is reported, each
 * as `path: reason`, e.g. `routes[2].action.upstream: unknown upstream "users" (known: orders, billing)`.
 */
import * as v from 'valibot'
import { ConfigError } from '../core/errors'
import { MAX_CONFIG_DEPTH, tooDeepAt } from '../core/json-depth'
import { own } from '../core/record'
import { pathPatternProblem } from '../routing/matcher'
import { checkAggregate } from '../aggregate/checks'
import { consumerStoreSubrequests } from '../auth/consumer-store'
import { checkDeveloperSettings } from '../openapi/schema'
import { checkPortalSignIn } from '../auth/portal-schema'
import { definitionOf, phaseOf } from './policies'
import { checkCustomEntries } from './custom'
import { customActionOf, customOptions, type Extensions } from '../core/custom'
import type { PolicyContext } from '../core/policy'
import { checkTemplate, checkTemplateRefs, patternParams } from '../template/check'
import { REQUEST_TEMPLATE_ROOTS } from '../template/scope'
import { compileJsonTemplate } from '../template/template'
import { checkProxyAction, checkUpstreams, proxyDeadlineProblem, proxySubrequests } from '../upstream/checks'
import { runSteps, slices, type Steps } from '../core/steps'
import type { RouteSlices } from './record'
import { routePartSharer } from './shared-parts'
import { formatIssue, formatPath } from './issues'
import { GatewayConfigSchema, RouteSchema, type GatewayConfig, type PolicyConfig, type RouteConfig } from './schema'

/** Subrequests a request may make, per Workers plan (Cloudflare's limits page). */
export const PLAN_SUBREQUESTS = { free: 50, paid: 10_000 } as const

const listOf = (names: Iterable<string>) => [...names].join(', ') || 'none'

type Problems = {
  add(path: string, message: string): void
  /** Worth saying, but the config stands (`check:config` prints these). */
  notice(path: string, message: string): void
}

function checkPolicies(policies: PolicyConfig[], base: string, config: GatewayConfig, route: RouteConfig | undefined, problems: Problems) {
  policies.forEach((policy, i) => {
    const at = `${base}[${i}]`
    // An unknown custom policy has no definition: `checkCustomEntries` reported it.
    const definition = definitionOf(policy)
    if (!definition) return
    const ctx: PolicyContext = { config, route, at, phaseOf }
    definition.check?.(policy as never, { ...ctx, error: (field, message) => problems.add(`${at}${field}`, message) })
  })
}

function policySubrequests(policies: PolicyConfig[]): number {
  return policies.reduce((sum, policy) => sum + (definitionOf(policy)?.subrequests?.(policy as never) ?? 0), 0)
}

function checkRoute(route: RouteConfig, at: string, config: GatewayConfig, problems: Problems) {
  const params = patternParams(route.match.path)
  const { path } = route.match
  if (path.indexOf('*') >= 0 && path.indexOf('*') < path.length - 1) {
    problems.add(`${at}.match.path`, 'a wildcard "*" may only end the pattern ("/files/*")')
  }
  if (new Set(params).size !== params.length) problems.add(`${at}.match.path`, 'a parameter name is used twice')
  const patternProblem = pathPatternProblem(path)
  if (patternProblem) problems.add(`${at}.match.path`, patternProblem)
  for (const host of [route.match.host ?? []].flat()) {
    if (!/^(\*\.)?[A-Za-z0-9.-]+$/.test(host)) problems.add(`${at}.match.host`, `"${host}" is not a host name or "*.example.com"`)
  }
  if (route.version !== undefined && !own(config.versioning?.versions, route.version)) {
    problems.add(`${at}.version`, `unknown version "${route.version}" (known: ${listOf(Object.keys(config.versioning?.versions ?? {}))})`)
  }

  const action = route.action
  const template = (field: string, source: string) => {
    const problem = checkTemplate(source, REQUEST_TEMPLATE_ROOTS, params)
    if (problem) problems.add(`${at}.action.${field}`, problem)
  }
  let actionSubrequests = 0
  if (action.type === 'proxy') {
    const upstream = own(config.upstreams, action.upstream)
    if (!upstream) {
      problems.add(`${at}.action.upstream`, `unknown upstream "${action.upstream}" (known: ${listOf(Object.keys(config.upstreams))})`)
    } else if (route.deadline !== undefined) {
      const problem = proxyDeadlineProblem(action, route.deadline, config)
      if (problem) problems.add(`${at}.deadline`, problem)
    }
    if (action.path !== undefined) template('path', action.path)
    checkProxyAction(action, `${at}.action`, config, problems.add, route)
    actionSubrequests = proxySubrequests(action, config)
  } else if (action.type === 'aggregate') {
    const auth = [...route.policies, ...config.policies].filter((policy) => phaseOf(policy) === 'auth').map((policy) => policy.type)
    actionSubrequests = checkAggregate(route, action, at, config, params, problems.add, { auth, notice: problems.notice })
  } else if (action.type === 'redirect') {
    template('location', action.location)
  } else if (action.type !== 'respond') {
    actionSubrequests = customActionOf(action)?.subrequests?.(customOptions(action)) ?? 0
  } else {
    for (const [name, source] of Object.entries(action.headers)) template(`headers.${name}`, source)
    if (typeof action.body === 'string') template('body', action.body)
    else if (action.body !== undefined) {
      const problem = checkTemplateRefs(compileJsonTemplate(action.body).refs, REQUEST_TEMPLATE_ROOTS, params)
      if (problem) problems.add(`${at}.action.body`, problem)
    }
  }

  checkPolicies(route.policies, `${at}.policies`, config, route, problems)
  const budget = config.gateway.maxSubrequests ?? PLAN_SUBREQUESTS[config.gateway.plan]
  const policyCost = policySubrequests(config.policies) + policySubrequests(route.policies) + consumerStoreSubrequests(config, [...config.policies, ...route.policies])
  // The metrics aggregator's flush is one Durable Object call inside some request's waitUntil.
  const metricsCost = config.gateway.metrics.aggregator ? 1 : 0
  const total = actionSubrequests + policyCost + metricsCost
  if (total > budget) {
    const metrics = metricsCost ? `, metrics ${metricsCost}` : ''
    problems.add(
      at,
      `needs up to ${total} subrequests per request (action ${actionSubrequests}, policies ${policyCost}${metrics}), over the limit of ${budget} (gateway.plan "${config.gateway.plan}")`,
    )
  }
}

/** Keys valibot leaves out of a record (its guard against prototype pollution): a name that would vanish. */
const DROPPED_KEYS = ['__proto__', 'constructor', 'prototype']

/** Named sections whose keys are names the config refers to. */
function droppedNames(input: unknown, add: (path: string, message: string) => void): void {
  const config = input as { upstreams?: object; consumers?: object; plans?: object; versioning?: { versions?: object } }
  const sections = { upstreams: config.upstreams, consumers: config.consumers, plans: config.plans, 'versioning.versions': config.versioning?.versions }
  for (const [section, record] of Object.entries(sections)) {
    for (const key of DROPPED_KEYS) if (record && Object.hasOwn(record, key)) add(`${section}`, `"${key}" cannot be a name (it is every object's); choose another`)
  }
}

/** The checks that span fields; routes a slice at a time. */
function* checkSemantics(config: GatewayConfig, input: unknown, notices: string[]): Steps<string[]> {
  const problems: string[] = []
  const add = (path: string, message: string) => problems.push(`${path}: ${message}`)
  const notice = (path: string, message: string) => notices.push(`${path}: ${message}`)
  droppedNames(input, add)
  const seen = new Map<string, number>()
  for (const [routes, start] of slices(config.routes)) {
    routes.forEach((route, j) => {
      const i = start + j
      const first = seen.get(route.id)
      if (first !== undefined) add(`routes[${i}].id`, `duplicate route id "${route.id}" (also routes[${first}])`)
      else seen.set(route.id, i)
      checkRoute(route, `routes[${i}]`, config, { add, notice })
    })
    yield
  }
  checkPolicies(config.policies, 'policies', config, undefined, { add, notice })
  checkUpstreams(config, add)
  checkDeveloperSettings(config, add)
  checkPortalSignIn(config, add)
  for (const [id, consumer] of Object.entries(config.consumers)) {
    if (consumer.plan !== undefined && !own(config.plans, consumer.plan)) {
      add(`consumers.${id}.plan`, `unknown plan "${consumer.plan}" (known: ${listOf(Object.keys(config.plans))})`)
    }
  }
  const versioning = config.versioning
  if (versioning?.default !== undefined && !own(versioning.versions, versioning.default)) {
    add('versioning.default', `unknown version "${versioning.default}" (known: ${listOf(Object.keys(versioning.versions))})`)
  }
  return problems
}

/** Said after structural problems: the checks that span fields ran on nothing yet. */
export const PENDING_CHECKS = '(cross-field checks — references, budgets, deadlines — run once these are fixed)'

export type ParseResult =
  /** `notices`: worth saying about a valid config (`check:config` prints them). */
  | { ok: true; config: GatewayConfig; notices: string[] }
  /** `pending`: what was not checked yet, when the config's structure stopped the checks early. */
  | { ok: false; problems: string[]; pending?: string }

/**
 * Validates a config (as parsed JSON). Never throws. `extensions`: the project's custom policies
 * and actions (`custom:<name>` in the config).
 */
export function parseConfig(input: unknown, extensions: Extensions = {}): ParseResult {
  return runSteps(parseConfigSteps(input, extensions))
}

const RoutesSchema = v.array(RouteSchema)
type Issue = v.BaseIssue<unknown>

/** Whether the config's routes can be checked apart from the rest: an object whose `routes` is an array. */
function routesOf(input: unknown): unknown[] | undefined {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return undefined
  const routes = (input as { routes?: unknown }).routes
  return Array.isArray(routes) ? routes : undefined
}

/** An issue found in a slice of the routes, with its path from the config's root. */
function fromRoot(issue: Issue, start: number, routes: unknown[]): Issue {
  const [first, ...rest] = issue.path ?? []
  const item = { ...first!, input: routes, key: start + (first!.key as number) } as v.IssuePathItem
  const routesItem = { type: 'object', origin: 'value', input: undefined, key: 'routes', value: routes } as unknown as v.IssuePathItem
  return { ...issue, path: [routesItem, item, ...rest] as Issue['path'] }
}

type Structure = { output?: GatewayConfig; issues: Issue[] } | { deep: (string | number)[] }

/**
 * `safeParse` of the config schema, the routes a slice at a time, each slice checked for depth
 * first (`tooDeepAt`: a value nested thousands of levels deep overflows the stack of anything
 * recursive). The issues come in the order one `safeParse` gives them: the sections, then the
 * routes, then unknown keys at the root. Only the parsed routes are kept, never the slices.
 */
function* structureSteps(input: object, routes: RouteSlices): Steps<Structure> {
  const shell = { ...input, routes: [] }
  const shellDeep = tooDeepAt(shell, MAX_CONFIG_DEPTH)
  if (shellDeep) return { deep: shellDeep }
  const parsed = v.safeParse(GatewayConfigSchema, shell)
  const shellIssues: Issue[] = parsed.issues ?? []
  const unknownAtRoot = (issue: Issue) => issue.path?.length === 1 && issue.type === 'strict_object' && issue.expected === 'never'
  const issues = shellIssues.filter((issue) => !unknownAtRoot(issue))
  const parsedRoutes: RouteConfig[] = []
  const share = routePartSharer()
  for (let next = routes.next(); !next.done; next = routes.next()) {
    const [slice, start] = next.value
    // The slice stands for `routes`, one level below the root.
    const deep = tooDeepAt(slice, MAX_CONFIG_DEPTH - 1)
    if (deep) return { deep: ['routes', start + (deep[0] as number), ...deep.slice(1)] }
    const result = v.safeParse(RoutesSchema, slice)
    if (result.success) {
      share(result.output as unknown as Record<string, unknown>[])
      parsedRoutes.push(...result.output)
    }
    else issues.push(...result.issues.map((issue) => fromRoot(issue, start, slice)))
    yield
  }
  issues.push(...shellIssues.filter(unknownAtRoot))
  if (issues.length > 0 || !parsed.success) return { issues }
  return { output: { ...parsed.output, routes: parsedRoutes }, issues }
}

/** Reads the rest of the routes, so what reading them finds (a record line that is not JSON) is thrown as it would be had the checks run on. */
function* drain(routes: RouteSlices): Steps<void> {
  while (!routes.next().done) yield
}

/**
 * `parseConfig` as steps that yield between slices of the routes, so a hot reload of a large
 * config never holds the isolate's thread for long. The result is the same as `parseConfig`'s.
 * `routes`, when given, are the config's routes (a config record's, read a line at a time:
 * `recordConfig`), and `input` the rest of it.
 */
export function* parseConfigSteps(input: unknown, extensions: Extensions = {}, routes?: RouteSlices): Steps<ParseResult> {
  const array = routes ? undefined : routesOf(input)
  const sliced = routes ?? (array && slices(array))
  let structure: Structure
  if (sliced) {
    structure = yield* structureSteps(input as object, sliced)
    yield* drain(sliced)
  } else {
    const deep = tooDeepAt(input, MAX_CONFIG_DEPTH)
    const result = deep ? undefined : v.safeParse(GatewayConfigSchema, input)
    if (result?.success) routePartSharer()(result.output.routes as unknown as Record<string, unknown>[])
    structure = deep ? { deep } : result!.success ? { output: result!.output, issues: [] } : { issues: result!.issues }
  }
  if ('deep' in structure) {
    const at = formatPath(structure.deep.map((key) => ({ key }) as v.IssuePathItem))
    return { ok: false, problems: [`${at}: nested too deeply (at most ${MAX_CONFIG_DEPTH} levels of objects and arrays)`], pending: PENDING_CHECKS }
  }
  const { output, issues } = structure
  if (!output) return { ok: false, problems: issues.map((issue) => formatIssue(issue, input)), pending: PENDING_CHECKS }
  const notices: string[] = []
  const problems = [...checkCustomEntries(output, extensions), ...(yield* checkSemantics(output, input, notices))]
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config: output, notices }
}

/** Like `parseConfig`, but throws a `ConfigError` listing every problem. */
export function loadConfig(input: unknown, extensions: Extensions = {}): GatewayConfig {
  const result = parseConfig(input, extensions)
  if (!result.ok) throw new ConfigError(result.problems)
  return result.config
}
