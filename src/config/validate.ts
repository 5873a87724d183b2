/**
 * @module
 * Config validation: the schema's structural checks, then the checks that span fields (references,
 * template variables, versions, deadlines, the subrequest budget). Every problem is reported, each
 * as `path: reason`, e.g. `routes[2].action.upstream: unknown upstream "users" (known: orders, billing)`.
 */
import * as v from 'valibot'
import { checkAggregate } from '../aggregate/validate'
import { checkDeveloperSettings } from '../openapi/schema'
import { POLICY_DEFINITIONS } from '../policies/registry'
import type { PolicyContext } from '../policies/types'
import { checkTemplate, checkTemplateRefs, patternParams } from '../template/check'
import { REQUEST_TEMPLATE_ROOTS } from '../template/scope'
import { compileJsonTemplate } from '../template/template'
import { GatewayConfigSchema, type GatewayConfig, type PolicyConfig, type RouteConfig } from './schema'

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid gateway config:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

/** Subrequests a request may make, per Workers plan (Cloudflare's limits page). */
export const PLAN_SUBREQUESTS = { free: 50, paid: 10_000 } as const

function formatPath(path: v.IssuePathItem[] | undefined): string {
  let out = ''
  for (const item of path ?? []) {
    const key = item.key
    if (typeof key === 'number') out += `[${key}]`
    else if (typeof key === 'string' && /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(key)) out += out ? `.${key}` : key
    else out += `[${JSON.stringify(key)}]`
  }
  return out || '(root)'
}

function formatIssue(issue: v.BaseIssue<unknown>): string {
  const at = formatPath(issue.path)
  if (issue.type === 'strict_object' && issue.expected === 'never') return `${at}: unknown key (allowed keys are listed in the schema)`
  if (issue.type === 'variant' && issue.expected) return `${at}: expected one of ${issue.expected}, received ${issue.received}`
  // A union reports only its own issue; its members' issues say which part failed.
  if (issue.type === 'union' && issue.issues?.length) return formatIssue(issue.issues[issue.issues.length - 1]!)
  return `${at}: ${issue.message}`
}

const listOf = (names: Iterable<string>) => [...names].join(', ') || 'none'

type Problems = { add(path: string, message: string): void }

function checkPolicies(policies: PolicyConfig[], base: string, config: GatewayConfig, route: RouteConfig | undefined, problems: Problems) {
  policies.forEach((policy, i) => {
    const at = `${base}[${i}]`
    const definition = POLICY_DEFINITIONS[policy.type]!
    const ctx: PolicyContext = { config, route, at }
    definition.validate?.(policy as never, { ...ctx, error: (field, message) => problems.add(`${at}${field}`, message) })
  })
}

function policySubrequests(policies: PolicyConfig[]): number {
  return policies.reduce((sum, policy) => sum + (POLICY_DEFINITIONS[policy.type]!.subrequests?.(policy as never) ?? 0), 0)
}

function checkRoute(route: RouteConfig, at: string, config: GatewayConfig, problems: Problems) {
  const params = patternParams(route.match.path)
  const { path } = route.match
  if (path.indexOf('*') >= 0 && path.indexOf('*') < path.length - 1) {
    problems.add(`${at}.match.path`, 'a wildcard "*" may only end the pattern ("/files/*")')
  }
  if (new Set(params).size !== params.length) problems.add(`${at}.match.path`, 'a parameter name is used twice')
  for (const host of [route.match.host ?? []].flat()) {
    if (!/^(\*\.)?[A-Za-z0-9.-]+$/.test(host)) problems.add(`${at}.match.host`, `"${host}" is not a host name or "*.example.com"`)
  }
  if (route.version !== undefined && !config.versioning?.versions[route.version]) {
    problems.add(`${at}.version`, `unknown version "${route.version}" (known: ${listOf(Object.keys(config.versioning?.versions ?? {}))})`)
  }

  const action = route.action
  const template = (field: string, source: string) => {
    const problem = checkTemplate(source, REQUEST_TEMPLATE_ROOTS, params)
    if (problem) problems.add(`${at}.action.${field}`, problem)
  }
  let actionSubrequests = 0
  if (action.type === 'proxy') {
    const upstream = config.upstreams[action.upstream]
    if (!upstream) {
      problems.add(`${at}.action.upstream`, `unknown upstream "${action.upstream}" (known: ${listOf(Object.keys(config.upstreams))})`)
    } else if (route.deadline !== undefined && route.deadline < upstream.timeouts.headers) {
      problems.add(
        `${at}.deadline`,
        `${route.deadline} ms does not cover its upstream "${action.upstream}" (timeouts.headers ${upstream.timeouts.headers} ms); raise the deadline or lower the upstream timeout`,
      )
    }
    if (action.path !== undefined) template('path', action.path)
    actionSubrequests = 1
  } else if (action.type === 'aggregate') {
    actionSubrequests = checkAggregate(route, action, at, config, params, problems.add)
  } else if (action.type === 'redirect') {
    template('location', action.location)
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
  const policyCost = policySubrequests(config.policies) + policySubrequests(route.policies)
  const total = actionSubrequests + policyCost
  if (total > budget) {
    problems.add(
      at,
      `needs up to ${total} subrequests per request (action ${actionSubrequests}, policies ${policyCost}), over the limit of ${budget} (gateway.plan "${config.gateway.plan}")`,
    )
  }
}

function checkSemantics(config: GatewayConfig): string[] {
  const problems: string[] = []
  const add = (path: string, message: string) => problems.push(`${path}: ${message}`)
  const seen = new Map<string, number>()
  config.routes.forEach((route, i) => {
    const first = seen.get(route.id)
    if (first !== undefined) add(`routes[${i}].id`, `duplicate route id "${route.id}" (also routes[${first}])`)
    else seen.set(route.id, i)
    checkRoute(route, `routes[${i}]`, config, { add })
  })
  checkPolicies(config.policies, 'policies', config, undefined, { add })
  checkDeveloperSettings(config, add)
  for (const [id, consumer] of Object.entries(config.consumers)) {
    if (consumer.plan !== undefined && !config.plans[consumer.plan]) {
      add(`consumers.${id}.plan`, `unknown plan "${consumer.plan}" (known: ${listOf(Object.keys(config.plans))})`)
    }
  }
  const versioning = config.versioning
  if (versioning?.default !== undefined && !versioning.versions[versioning.default]) {
    add('versioning.default', `unknown version "${versioning.default}" (known: ${listOf(Object.keys(versioning.versions))})`)
  }
  return problems
}

export type ParseResult = { ok: true; config: GatewayConfig } | { ok: false; problems: string[] }

/** Validates a config (as parsed JSON). Never throws. */
export function parseConfig(input: unknown): ParseResult {
  const result = v.safeParse(GatewayConfigSchema, input)
  if (!result.success) return { ok: false, problems: result.issues.map((issue) => formatIssue(issue)) }
  const problems = checkSemantics(result.output)
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config: result.output }
}

/** Like `parseConfig`, but throws a `ConfigError` listing every problem. */
export function loadConfig(input: unknown): GatewayConfig {
  const result = parseConfig(input)
  if (!result.ok) throw new ConfigError(result.problems)
  return result.config
}
