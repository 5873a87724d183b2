/**
 * @module
 * Cross-field checks of upstream pools and the proxy action's split and mirror, and their cost
 * for the route's budgets: worst-case subrequests (every try is one; so is a health-state read)
 * and worst-case time (every try's header timeout, plus backoff), unless `timeouts.total` caps it.
 */
import type { ProxyActionConfig, UpstreamConfig } from './schema'
import { own } from '../core/record'
import { IDEMPOTENT_METHODS } from '../routing/methods'
import type { HedgeConfig } from './hedge'

type Add = (path: string, message: string) => void
type ProxyAction = ProxyActionConfig
/** The config's upstreams: what these checks read of it. */
type Upstreams = { readonly upstreams: Readonly<Record<string, UpstreamConfig>> }

const listOf = (names: Iterable<string>) => [...names].join(', ') || 'none'

export function checkUpstreams(config: Upstreams, add: Add): void {
  const known = () => listOf(Object.keys(config.upstreams))
  for (const [name, u] of Object.entries(config.upstreams)) {
    const at = `upstreams.${name}`
    if (u.targets) {
      if (u.targets.every((t) => t.weight === 0)) add(`${at}.targets`, 'at least one target needs a weight above 0')
      const seen = new Map<string, number>()
      u.targets.forEach((t, i) => {
        const id = t.id ?? String(i)
        if (seen.has(id)) add(`${at}.targets[${i}].id`, `duplicate target id "${id}" (also targets[${seen.get(id)}])`)
        else seen.set(id, i)
      })
    }
    if (u.balance === 'hash' && u.hashOn === undefined) add(`${at}.hashOn`, 'required when balance is "hash"')
    if (u.balance !== 'hash' && u.hashOn !== undefined) add(`${at}.hashOn`, 'only used with balance "hash"')
    if (u.passive && u.passive.maxEjectMs < u.passive.ejectMs) add(`${at}.passive.maxEjectMs`, `must be at least ejectMs (${u.passive.ejectMs} ms)`)
    if (u.retries && u.retries.backoff.max < u.retries.backoff.base) add(`${at}.retries.backoff.max`, `must be at least base (${u.retries.backoff.base} ms)`)
    if (u.healthCheck && u.healthCheck.timeout >= u.healthCheck.interval) {
      add(`${at}.healthCheck.timeout`, `must be shorter than interval (${u.healthCheck.interval} ms)`)
    }
    if (u.timeouts.total !== undefined && u.timeouts.total < u.timeouts.headers) {
      add(`${at}.timeouts.total`, `must be at least timeouts.headers (${u.timeouts.headers} ms)`)
    }
    const fallback = u.fallback?.upstream
    if (fallback !== undefined) {
      const target = own(config.upstreams, fallback)
      if (!target) add(`${at}.fallback.upstream`, `unknown upstream "${fallback}" (known: ${known()})`)
      else if (fallback === name) add(`${at}.fallback.upstream`, 'an upstream cannot fall back to itself')
      else if (target.fallback?.upstream !== undefined) {
        add(`${at}.fallback.upstream`, `"${fallback}" has a fallback upstream of its own; chains of fallbacks are not allowed`)
      }
    }
  }
}

/** What the hedge checks read of the route: the methods it matches and its deadline. */
type HedgedRoute = { match: { methods?: readonly string[] | undefined }; deadline?: number | undefined }

/**
 * A `hedge` (`./hedge`) that could never send a hedge is refused: on methods that are never
 * hedged, or with `after` (times `max`) reaching past the time the first try may wait.
 * `methods`: what the requests may be sent with (a route's match, a call's method; undefined: any);
 * `waitMs`: the first try's longest wait for headers (timeouts.headers, the deadline, a call's timeout).
 */
export function checkHedge(hedge: HedgeConfig, at: string, methods: readonly string[] | undefined, waitMs: { ms: number; what: string }, add: Add): void {
  if (methods !== undefined && !methods.some((m) => IDEMPOTENT_METHODS.has(m))) {
    add(at, `hedges go only with idempotent methods (${[...IDEMPOTENT_METHODS].join(', ')}), never with ${methods.join(', ')}, the only methods here; remove "hedge"`)
    return
  }
  const last = hedge.after * hedge.max
  if (last >= waitMs.ms) {
    const which = hedge.max === 1 ? `after ${hedge.after} ms` : `after ${hedge.max} x ${hedge.after} = ${last} ms`
    add(`${at}.after`, `the last hedge would go ${which}, when the first try has given up (${waitMs.what} ${waitMs.ms} ms); lower "after"${hedge.max > 1 ? ' or "max"' : ''}`)
  }
}

export function checkProxyAction(action: ProxyAction, at: string, config: Upstreams, add: Add, route?: HedgedRoute): void {
  const known = () => listOf(Object.keys(config.upstreams))
  const upstream = own(config.upstreams, action.upstream)
  if (action.hedge && upstream && route) {
    const headers = { ms: upstream.timeouts.headers, what: `timeouts.headers of "${action.upstream}"` }
    const byDeadline = route.deadline !== undefined && route.deadline < headers.ms
    checkHedge(action.hedge, `${at}.hedge`, route.match.methods, byDeadline ? { ms: route.deadline!, what: "the route's deadline" } : headers, add)
  }
  let sum = 0
  action.split?.forEach((s, i) => {
    sum += s.weight
    if (!own(config.upstreams, s.upstream)) add(`${at}.split[${i}].upstream`, `unknown upstream "${s.upstream}" (known: ${known()})`)
    else if (s.upstream === action.upstream) add(`${at}.split[${i}].upstream`, 'is the action\'s own upstream; a split names the other versions')
  })
  if (sum > 100) add(`${at}.split`, `weights add up to ${sum}, over 100 (they are percents)`)
  if (action.pinBy !== undefined && !action.split?.length) add(`${at}.pinBy`, 'only used with "split"')
  if (action.mirror) {
    if (!own(config.upstreams, action.mirror.upstream)) add(`${at}.mirror.upstream`, `unknown upstream "${action.mirror.upstream}" (known: ${known()})`)
    else if (action.mirror.upstream === action.upstream) add(`${at}.mirror.upstream`, 'must differ from the action\'s upstream')
  }
}

/** What the worst cases read of an upstream (its config, or a compiled upstream's timeouts and retry config). */
type Worst = { timeouts: { headers: number; total?: number | undefined }; retries?: { attempts: number; backoff: { max: number } } | undefined }

const tries = (u: Pick<Worst, 'retries'>) => 1 + (u.retries?.attempts ?? 0)

/** Worst-case subrequests of one call to the upstream: tries, the health read, the fallback. */
export function upstreamSubrequests(config: Upstreams, name: string): number {
  const u = own(config.upstreams, name)
  if (!u) return 1
  const fallback = u.fallback?.upstream !== undefined && u.fallback.upstream !== name ? own(config.upstreams, u.fallback.upstream) : undefined
  const fallbackCost = fallback ? tries(fallback) + (fallback.healthCheck ? 1 : 0) : 0
  return tries(u) + (u.healthCheck ? 1 : 0) + fallbackCost
}

/** Worst-case time to headers of one call: per-try timeouts and backoff, capped by `timeouts.total`. */
export function upstreamWorstMs(u: Worst): number {
  const n = tries(u)
  const worst = u.timeouts.headers * n + (u.retries ? u.retries.backoff.max * (n - 1) : 0)
  return Math.min(worst, u.timeouts.total ?? Infinity)
}

/** Worst-case subrequests of a proxy action: the costliest side of the split and its hedges, plus the mirror. */
export function proxySubrequests(action: ProxyAction, config: Upstreams): number {
  const sides = [action.upstream, ...(action.split ?? []).map((s) => s.upstream)]
  const main = Math.max(...sides.map((name) => upstreamSubrequests(config, name))) + (action.hedge?.max ?? 0)
  return main + (action.mirror ? 1 + (own(config.upstreams, action.mirror.upstream)?.healthCheck ? 1 : 0) : 0)
}

/**
 * Why `deadline` doesn't cover the proxy action's worst case, or undefined. Each side of the split
 * may be chosen; a side's fallback upstream runs after it fails. The mirror is fire-and-forget
 * (in waitUntil), outside the deadline.
 */
export function proxyDeadlineProblem(action: ProxyAction, deadline: number, config: Upstreams): string | undefined {
  const sides = [action.upstream, ...(action.split ?? []).map((s) => s.upstream)]
  for (const name of sides) {
    const u = own(config.upstreams, name)
    if (!u) continue
    const worst = upstreamWorstMs(u)
    const fallbackName = u.fallback?.upstream
    const fallback = fallbackName !== undefined && fallbackName !== name ? own(config.upstreams, fallbackName) : undefined
    // The fallback's tries run under the same per-try timeout as the call (at most this upstream's).
    const fallbackMs = fallback ? upstreamWorstMs({ ...fallback, timeouts: { ...fallback.timeouts, headers: Math.min(fallback.timeouts.headers, u.timeouts.headers) } }) : 0
    const total = worst + fallbackMs
    if (deadline >= total) continue
    const which = name === action.upstream ? 'its upstream' : 'its split upstream'
    if (fallback) {
      return `${deadline} ms does not cover ${which} "${name}" and its fallback "${fallbackName}" (${worst} + ${fallbackMs} ms); raise the deadline or lower the upstream timeouts`
    }
    return worst === u.timeouts.headers
      ? `${deadline} ms does not cover ${which} "${name}" (timeouts.headers ${u.timeouts.headers} ms); raise the deadline or lower the upstream timeout`
      : `${deadline} ms does not cover ${which} "${name}" (${worst} ms with retries: timeouts.headers per try and backoff); raise the deadline, lower the upstream timeouts or set timeouts.total`
  }
  return undefined
}
