/**
 * @module
 * Checks a parsed config's custom policies and actions (`custom:<name>`, `core/custom.ts`) against
 * the project's registry: an unknown name is a problem at its `type`, and each entry's options go
 * through the definition's own schema, so a bad option is reported at its exact place
 * (`routes[2].policies[1].tenantHeader: expected string, received number`), like a built-in's.
 * A good entry is replaced by its parsed options (defaults filled in) and marked with its
 * definition, which the pipeline and the route compiler build from.
 */
import * as v from 'valibot'
import { customOptions, isCustomType, markCustomAction, markCustomPolicy, type CustomAction, type CustomPolicy, type Extensions } from '../core/custom'
import { own } from '../core/record'
import { formatIssue } from './issues'
import type { GatewayConfig, PolicyConfig } from './schema'

const listOf = (names: Iterable<string>) => [...names].map((name) => `custom:${name}`).join(', ') || 'none'

/** The entry's options parsed by `definition.schema`, or the problems, each at its field. */
function parseEntry<T extends { type: string }>(entry: T, at: string, schema: v.GenericSchema, problems: string[]): T | undefined {
  const options = customOptions(entry)
  const result = v.safeParse(schema, options)
  if (!result.success) {
    problems.push(...result.issues.map((issue) => formatIssue(issue, options, { root: schema, at })))
    return undefined
  }
  return { type: entry.type, ...(result.output as object) } as T
}

function checkEntry<T extends { type: string }, D extends CustomPolicy | CustomAction>(
  entry: T,
  at: string,
  kind: 'policy' | 'action',
  registry: Record<string, D> | undefined,
  problems: string[],
): { entry: T; definition: D } | undefined {
  const name = entry.type.slice('custom:'.length)
  const definition = registry && own(registry, name)
  if (!definition) {
    problems.push(`${at}.type: unknown custom ${kind} "${entry.type}" (registered: ${listOf(Object.keys(registry ?? {}))})`)
    return undefined
  }
  const parsed = parseEntry(entry, at, definition.schema, problems)
  return parsed && { entry: parsed, definition }
}

function checkPolicies(policies: PolicyConfig[], base: string, extensions: Extensions, problems: string[]): void {
  policies.forEach((policy, i) => {
    if (!isCustomType(policy.type)) return
    const checked = checkEntry(policy, `${base}[${i}]`, 'policy', extensions.policies, problems)
    if (checked) policies[i] = markCustomPolicy(checked.entry, checked.definition)
  })
}

/**
 * Checks and marks every custom entry of a parsed config in place; returns the problems. A config
 * without custom entries costs one string test per policy and route.
 */
export function checkCustomEntries(config: GatewayConfig, extensions: Extensions): string[] {
  const problems: string[] = []
  checkPolicies(config.policies, 'policies', extensions, problems)
  config.routes.forEach((route, i) => {
    checkPolicies(route.policies, `routes[${i}].policies`, extensions, problems)
    if (!isCustomType(route.action.type)) return
    const checked = checkEntry(route.action, `routes[${i}].action`, 'action', extensions.actions, problems)
    if (checked) route.action = markCustomAction(checked.entry, checked.definition)
  })
  return problems
}
