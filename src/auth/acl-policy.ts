/**
 * @module
 * `acl`: allows or denies a route by who the consumer is (Kong's `acl`, Zuplo's RBAC). It reads
 * the consumer an authentication policy published before it (an API key's or a token's alike) and
 * matches it by id, group (`consumers.<id>.groups`), plan, or, for tokens, a claim's value (e.g.
 * `roles` contains `admin`). `deny` is checked first: a consumer it matches is refused whatever
 * `allow` says. With `allow`, a consumer must match one of its entries. A refusal is 403
 * problem+json (`ERR_FORBIDDEN`); which rule refused is logged (`acl`), never told to the client.
 *
 * @example
 * { "type": "acl", "allow": { "groups": ["staff"], "claims": { "roles": "admin" } }, "deny": { "consumers": ["mallory"] } }
 */
import type { Context } from 'hono'
import * as v from 'valibot'
import type { Consumer, AppEnv } from '../core/context'
import { GatewayError } from '../core/errors'
import { definePolicy, type ValidationContext } from '../core/policy'
import { Name } from '../core/schema'
import { getPath, parsePath, type ParsedPath } from '../template/path'
import { PathString } from '../template/schema'
import { knownGroups } from './consumer-groups'

const ClaimValue = v.union([v.string(), v.number(), v.boolean()])

const AclRuleSchema = v.strictObject({
  consumers: v.pipe(
    v.optional(v.array(v.pipe(v.string(), v.minLength(1)))),
    v.description(SCHEMA_DOCS ? 'Consumer ids; a token subject that no config or store entry lists is `<sub>@<iss>` (its consumer key).' : ''),
  ),
  groups: v.pipe(v.optional(v.array(Name)), v.description(SCHEMA_DOCS ? 'Groups, as consumers (configured or stored) declare them.' : '')),
  plans: v.pipe(v.optional(v.array(Name)), v.description(SCHEMA_DOCS ? 'Plans (names in `plans`).' : '')),
  claims: v.pipe(
    v.optional(v.record(PathString, v.union([ClaimValue, v.pipe(v.array(ClaimValue), v.minLength(1))]))),
    v.description(SCHEMA_DOCS ? 'Claim path -> value (or values, any one): the token\'s claim equals it, or is a list containing it.' : ''),
  ),
})

export const AclOptionsSchema = v.strictObject({
  type: v.literal('acl'),
  allow: v.pipe(v.optional(AclRuleSchema), v.description(SCHEMA_DOCS ? 'Only consumers matching one of these pass.' : '')),
  deny: v.pipe(v.optional(AclRuleSchema), v.description(SCHEMA_DOCS ? 'Consumers matching one of these are refused (checked first).' : '')),
})

export type AclOptions = v.InferOutput<typeof AclOptionsSchema>
type AclRule = v.InferOutput<typeof AclRuleSchema>

/** A rule compiled once: sets for the names, parsed claim paths. */
type CompiledRule = {
  consumers: Set<string>
  groups: Set<string>
  plans: Set<string>
  claims: [path: ParsedPath, values: (string | number | boolean)[]][]
}

function compileRule(rule: AclRule | undefined): CompiledRule | undefined {
  if (rule === undefined) return undefined
  return {
    consumers: new Set(rule.consumers),
    groups: new Set(rule.groups),
    plans: new Set(rule.plans),
    claims: Object.entries(rule.claims ?? {}).map(([path, value]) => [parsePath(path), [value].flat()]),
  }
}

function claimMatches(actual: unknown, values: (string | number | boolean)[]): boolean {
  const present = Array.isArray(actual) ? actual : [actual]
  return present.some((item) => values.includes(item as string))
}

/**
 * Which entry of `rule` the consumer matches (for the log), or undefined. A consumer id in `allow`
 * must equal the consumer's key: its plain id when the config or the store lists it (or for an API
 * key), `<sub>@<iss>` for a token subject they don't, since another trusted issuer may issue the
 * same `sub` to someone else. `deny` also matches the plain id: refusing too many is the safe side.
 */
function matchRule(rule: CompiledRule, consumer: Consumer | undefined, claims: Record<string, unknown> | undefined, side: 'allow' | 'deny'): string | undefined {
  if (consumer === undefined) return undefined
  if (rule.consumers.has(consumer.key) || (side === 'deny' && rule.consumers.has(consumer.id))) return 'consumers'
  if (consumer.groups?.some((group) => rule.groups.has(group))) return 'groups'
  if (consumer.plan !== undefined && rule.plans.has(consumer.plan)) return 'plans'
  if (claims !== undefined && rule.claims.some(([path, values]) => claimMatches(getPath(claims, path), values))) return 'claims'
  return undefined
}

function ruleIsEmpty(rule: AclRule): boolean {
  return !rule.consumers?.length && !rule.groups?.length && !rule.plans?.length && Object.keys(rule.claims ?? {}).length === 0
}

/** Whether an authentication policy runs before this one (global auth policies first, then the route's in order). */
function authenticatedBefore(options: AclOptions, ctx: ValidationContext): boolean {
  const isAuth = (p: { type: string }) => p.type !== 'acl' && ctx.phaseOf(p) === 'auth'
  const globalIndex = ctx.config.policies.indexOf(options)
  if (globalIndex >= 0) return ctx.config.policies.slice(0, globalIndex).some(isAuth)
  const routeIndex = ctx.route?.policies.indexOf(options) ?? -1
  return ctx.config.policies.some(isAuth) || (ctx.route?.policies.slice(0, Math.max(0, routeIndex)).some(isAuth) ?? false)
}

function checkRule(rule: AclRule | undefined, field: string, ctx: ValidationContext): void {
  if (rule === undefined) return
  if (ruleIsEmpty(rule)) ctx.error(field, 'names nothing: give "consumers", "groups", "plans" or "claims"')
  const groups = knownGroups(ctx.config)
  rule.groups?.forEach((group, i) => {
    if (!groups.has(group)) ctx.error(`${field}.groups[${i}]`, `unknown group "${group}" (known: ${[...groups].join(', ') || 'none'})`)
  })
  const plans = Object.keys(ctx.config.plans)
  rule.plans?.forEach((plan, i) => {
    if (!Object.hasOwn(ctx.config.plans, plan)) ctx.error(`${field}.plans[${i}]`, `unknown plan "${plan}" (known: ${plans.join(', ') || 'none'})`)
  })
}

function forbidden(c: Context<AppEnv>, outcome: 'denied' | 'not-allowed' | 'anonymous', rule?: string): GatewayError {
  c.get('log').acl = { outcome, ...(rule !== undefined && { rule }) }
  return new GatewayError('ERR_FORBIDDEN', { detail: 'The consumer may not use this route.' })
}

export const aclPolicy = definePolicy({
  type: 'acl',
  phase: 'auth',
  schema: AclOptionsSchema,
  check(options, ctx) {
    if (options.allow === undefined && options.deny === undefined) ctx.error('', 'needs "allow" or "deny"')
    checkRule(options.allow, '.allow', ctx)
    checkRule(options.deny, '.deny', ctx)
    if (!authenticatedBefore(options, ctx)) ctx.error('', 'no authentication policy (jwt, api-key, ...) runs before it, so there is no consumer to check')
  },
  create(options) {
    const allow = compileRule(options.allow)
    const deny = compileRule(options.deny)
    return async function acl(c, next) {
      const consumer = c.get('consumer')
      const claims = c.get('claims')
      const denied = deny && matchRule(deny, consumer, claims, 'deny')
      if (denied !== undefined) throw forbidden(c, 'denied', denied)
      if (allow) {
        if (consumer === undefined) throw forbidden(c, 'anonymous')
        const allowed = matchRule(allow, consumer, claims, 'allow')
        if (allowed === undefined) throw forbidden(c, 'not-allowed')
        c.get('log').acl = { outcome: 'allowed', rule: allowed }
      }
      await next()
    }
  },
})
