/**
 * @module
 * Config checks of the `rate-limit` policy that span fields, sibling policies or the plans: key
 * parts that have no value before authentication, limit names that would share (or overflow) a
 * counter id, and the most checks one request can send a `RateLimiter` object.
 */
import type { ValidationContext } from '../core/policy'
import type { KeySpec } from './keys'
import { parsePath } from '../template/path'
import { duplicateName, MAX_CHECK_ID, MAX_CHECKS, plansOf, type RateLimitOptions } from './schema'

/** A limit or quota of the policy by name, with where it sits (`limits[0]`, `quotas[1]`). */
type NamedItem = [name: string, at: string]

type Report = ValidationContext['error']

/**
 * Key parts that have no value where a `beforeAuth` limit runs: the consumer (not authenticated
 * yet), and for a global one the route (it runs before routing). Rather than let every request
 * share one `~` counter, the config is refused.
 */
function checkBeforeAuth(options: RateLimitOptions, global: boolean, error: Report) {
  const check = (spec: KeySpec | undefined, at: string) =>
    spec?.forEach((part, i) => {
      if (part === 'consumer' || part === 'apiKey') error(`${at}[${i}]`, `"${part}" has no value before authentication (beforeAuth: true); key by "ip" or a header`)
      if (part === 'route' && global) error(`${at}[${i}]`, '"route" has no value in a global beforeAuth limit (it runs before routing); put the policy on the route instead')
    })
  check(options.by, '.by')
  check(options.fallback, '.fallback')
  for (const [list, name] of [[options.limits, 'limits'], [options.quotas, 'quotas']] as const) {
    list.forEach((item, i) => {
      check(item.by, `.${name}[${i}].by`)
      check(item.fallback, `.${name}[${i}].fallback`)
    })
  }
  if (options.plans) error('.plans', 'plans are per consumer, and there is no consumer before authentication (beforeAuth: true)')
}

/** Each name once among the policy's own limits and quotas. */
function checkOwnNames(items: NamedItem[], error: Report) {
  const seen = new Map<string, string>()
  for (const [name, at] of items) {
    const first = seen.get(name)
    if (first) error(`.${at}.name`, `"${name}" is already the name of ${first}`)
    else seen.set(name, at)
  }
}

/**
 * Counters are named by scope and limit name (`global/<name>`, `route:<id>/<name>`): two
 * rate-limit policies of one scope with a same-named limit would share a counter and charge
 * each request twice.
 */
function checkSiblingNames(items: NamedItem[], ctx: ValidationContext) {
  const place = /^(.*)policies\[(\d+)\]$/.exec(ctx.at)
  const siblings = ctx.route ? ctx.route.policies : ctx.config.policies
  siblings.slice(0, Number(place?.[2] ?? 0)).forEach((other, j) => {
    if (other.type !== 'rate-limit') return
    const { limits, quotas } = other as RateLimitOptions
    const taken = new Set([...limits, ...quotas].map((l) => l.name))
    for (const [name, at] of items) {
      if (taken.has(name)) ctx.error(`.${at}.name`, `"${name}" is also a limit of ${place![1]}policies[${j}]; in one scope (global, or one route) they would share one counter`)
    }
  })
}

/** Limits whose counter id the object would refuse: `route:<id>/<name>` must fit MAX_CHECK_ID. */
function checkCounterIds(items: NamedItem[], ctx: ValidationContext) {
  if (ctx.route === undefined) return
  const scope = `route:${ctx.route.id}/`
  for (const [name, at] of items) {
    const length = scope.length + name.length
    if (length > MAX_CHECK_ID) ctx.error(`.${at}.name`, `the counter id "${scope}<name>" would be ${length} characters (at most ${MAX_CHECK_ID}): shorten the route id or the name`)
  }
}

/**
 * Plan limits apply beside the policy's own, so their names must differ; and every check of one
 * request may share one object, which takes at most MAX_CHECKS a call.
 */
function checkPlansAndBudget(options: RateLimitOptions, items: NamedItem[], ctx: ValidationContext) {
  const own = new Set(items.map(([name]) => name))
  let most = 0
  let largest = ''
  if (options.plans) {
    for (const [planName, plan] of Object.entries(plansOf(ctx.config))) {
      const clash = duplicateName([...options.limits, ...options.quotas, ...plan.limits, ...plan.quotas])
      if (clash !== undefined && own.has(clash)) ctx.error('.plans', `plan "${planName}" also has a limit named "${clash}"; names must differ`)
      const count = plan.limits.length + plan.quotas.length
      if (count > most) [most, largest] = [count, planName]
    }
  }
  const total = items.length + most
  if (total > MAX_CHECKS) {
    const detail = most > 0 ? `${items.length} here + ${most} in plan "${largest}"` : `${items.length} here`
    ctx.error('', `at most ${MAX_CHECKS} limits and quotas can apply to one request (found ${total}: ${detail})`)
  }
}

/** `costPath` names one value, and is the policy's only source of cost. */
function checkCostPath(options: RateLimitOptions, error: Report) {
  if (options.cost !== 1) error('.cost', 'give either "cost" (a fixed cost) or "costPath" (the cost read from the response body, "minCost" taken at admission), not both')
  if (options.costHeader !== undefined) error('.costPath', 'give either "costHeader" or "costPath" (where the response says its cost), not both')
  if (parsePath(options.costPath!).steps.some((step) => step.kind === 'each')) error('.costPath', 'must name one value: "[]" (every element) is not allowed here')
}

/**
 * `actionCost` is the policy's only source of cost, and on a route its action must report one: an
 * `aggregate` whose calls carry a `cost` or `costPath` (read by the action's shape).
 */
function checkActionCost(options: RateLimitOptions, ctx: ValidationContext) {
  if (options.cost !== 1 || options.costHeader !== undefined || options.costPath !== undefined) {
    ctx.error('.actionCost', 'give one source of cost: "actionCost" (what the action reports) or "cost", "costHeader", "costPath", not several')
  }
  const action = ctx.route?.action as { type: string; calls?: { cost?: number; costPath?: string }[] } | undefined
  if (action && !(action.type === 'aggregate' && action.calls?.some((call) => call.cost !== undefined || call.costPath !== undefined))) {
    ctx.error('.actionCost', 'the route\'s action reports no cost: only an "aggregate" action whose calls have a "cost" or "costPath" does')
  }
}

export function checkRateLimitOptions(options: RateLimitOptions, ctx: ValidationContext): void {
  if (options.beforeAuth) checkBeforeAuth(options, ctx.route === undefined, ctx.error)
  if (options.limits.length + options.quotas.length === 0 && !options.plans) {
    ctx.error('', 'needs at least one of "limits", "quotas" or "plans": true')
  }
  const items: NamedItem[] = [...options.limits.map((l, i): NamedItem => [l.name, `limits[${i}]`]), ...options.quotas.map((q, i): NamedItem => [q.name, `quotas[${i}]`])]
  checkOwnNames(items, ctx.error)
  const smallest = [...options.limits, ...options.quotas].reduce((least, l) => Math.min(least, l.limit), Infinity)
  if (options.cost > smallest) ctx.error('.cost', `${options.cost} is more than the smallest limit (${smallest}): no request could ever be admitted`)
  if (options.costHeader !== undefined && options.cost !== 1) ctx.error('.cost', 'give either "cost" (a fixed cost) or "costHeader" (the cost read from the response, "minCost" taken at admission), not both')
  if (options.costPath !== undefined) checkCostPath(options, ctx.error)
  if (options.actionCost) checkActionCost(options, ctx)
  if ((options.costHeader !== undefined || options.costPath !== undefined || options.actionCost) && options.minCost > smallest) ctx.error('.minCost', `${options.minCost} is more than the smallest limit (${smallest}): no request could ever be admitted`)
  checkSiblingNames(items, ctx)
  checkCounterIds(items, ctx)
  checkPlansAndBudget(options, items, ctx)
}
