/**
 * @module
 * `rate-limit`: exact limits and quotas kept in `RateLimiter` Durable Objects, one object per key.
 * Limits are sliding windows (`limit` per `window` seconds), quotas count per UTC day or month;
 * with `"plans": true` the consumer's plan adds its own limits and quotas, counted per consumer.
 * Each key's limits are checked and consumed in one RPC; a request under limits in several objects
 * reserves in each and refunds when any denies (`../rate-limit/reserve`). Every limited response
 * carries `RateLimit-Policy` and `RateLimit`; a 429 also `Retry-After` and names the limit hit.
 * When the limiter fails or is slow, `onError` decides: `allow` (fail open) or `deny` (503).
 * With `"beforeAuth": true` the policy runs in the request phase, before `jwt`/`api-key`, so a
 * request with a bad credential is counted before it gets its 401 (keys: `ip`, headers).
 *
 * @example
 * { "type": "rate-limit", "by": ["consumer"], "fallback": ["ip"],
 *   "limits": [{ "name": "burst", "limit": 20, "window": 1 }, { "name": "hourly", "limit": 1000, "window": 3600 }],
 *   "quotas": [{ "name": "monthly", "limit": 100000, "period": "month" }], "plans": true }
 */
import type { ConsumeResult, LimitCheck, LimitDecision, RateLimiter } from './rate-limiter'
import { GatewayError } from '../core/errors'
import { editResponseHeaders } from '../core/http'
import { logEvent } from '../core/logging'
import { policyItem, stateItem, toSeconds } from './fields'
import { compileKey, type KeyFunction, type KeyInput, type KeySpec } from './keys'
import { reserve, type ObjectCall } from './reserve'
import { duplicateName, MAX_CHECK_ID, MAX_CHECKS, plansOf, RateLimitOptionsSchema, type RateLimitOptions } from './schema'
import { definePolicy } from '../core/policy'

type CompiledLimit = { name: string; check: LimitCheck; key: KeyFunction; quota: boolean; describe: string }

const CONSUMER_KEY: KeySpec = ['consumer']

function compileLimits(
  scope: string,
  limits: { name: string; limit: number; window: number; by?: KeySpec | undefined; fallback?: KeySpec | undefined }[],
  quotas: { name: string; limit: number; period: 'day' | 'month'; by?: KeySpec | undefined; fallback?: KeySpec | undefined }[],
  by: KeySpec,
  fallback: KeySpec | undefined,
): CompiledLimit[] {
  const keyFor = (item: { by?: KeySpec | undefined; fallback?: KeySpec | undefined }) => compileKey(item.by ?? by, item.by ? item.fallback : (item.fallback ?? fallback))
  return [
    ...limits.map((l) => ({
      name: l.name,
      check: { id: `${scope}/${l.name}`, kind: 'window' as const, limit: l.limit, windowMs: l.window * 1000 },
      key: keyFor(l),
      quota: false,
      describe: `${l.limit} per ${l.window} s`,
    })),
    ...quotas.map((q) => ({
      name: q.name,
      check: { id: `${scope}/${q.name}`, kind: 'quota' as const, limit: q.limit, period: q.period },
      key: keyFor(q),
      quota: true,
      describe: `${q.limit} per ${q.period} (UTC)`,
    })),
  ]
}

/** The header items of the limits that have a decision, in config order. */
function fieldItems(applied: CompiledLimit[], decisions: Map<string, LimitDecision>) {
  const policy: string[] = []
  const state: string[] = []
  for (const limit of applied) {
    const d = decisions.get(limit.check.id)
    if (!d) continue
    policy.push(policyItem(limit.name, d.limit, d.windowMs))
    state.push(stateItem(limit.name, d.remaining, d.resetMs))
  }
  return { policy: policy.join(', '), state: state.join(', ') }
}

/**
 * Key parts that have no value where a `beforeAuth` limit runs: the consumer (not authenticated
 * yet), and for a global one the route (it runs before routing). Rather than let every request
 * share one `~` counter, the config is refused.
 */
function checkBeforeAuth(
  options: { by: KeySpec; fallback?: KeySpec | undefined; plans: boolean; limits: { by?: KeySpec | undefined; fallback?: KeySpec | undefined }[]; quotas: { by?: KeySpec | undefined; fallback?: KeySpec | undefined }[] },
  global: boolean,
  error: (field: string, message: string) => void,
) {
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

export const rateLimitPolicy = definePolicy({
  type: 'rate-limit',
  phase: 'rate-limit',
  schema: RateLimitOptionsSchema,
  // Before authentication, a limit also sees the requests that `jwt`/`api-key` would reject: the
  // only way to bound credential guessing per client.
  phaseOf: (options) => (options.beforeAuth ? 'request' : 'rate-limit'),
  check(options, ctx) {
    if (options.beforeAuth) checkBeforeAuth(options, ctx.route === undefined, ctx.error)
    if (options.limits.length + options.quotas.length === 0 && !options.plans) {
      ctx.error('', 'needs at least one of "limits", "quotas" or "plans": true')
    }
    const seen = new Map<string, string>()
    const items = [...options.limits.map((l, i) => [l.name, `limits[${i}]`]), ...options.quotas.map((q, i) => [q.name, `quotas[${i}]`])]
    for (const [name, at] of items as [string, string][]) {
      const first = seen.get(name)
      if (first) ctx.error(`.${at}.name`, `"${name}" is already the name of ${first}`)
      else seen.set(name, at)
    }
    // Counters are named by scope and limit name (`global/<name>`, `route:<id>/<name>`): two
    // rate-limit policies of one scope with a same-named limit would share a counter and charge
    // each request twice.
    const place = /^(.*)policies\[(\d+)\]$/.exec(ctx.at)
    const siblings = ctx.route ? ctx.route.policies : ctx.config.policies
    siblings.slice(0, Number(place?.[2] ?? 0)).forEach((other, j) => {
      if (other.type !== 'rate-limit') return
      const { limits, quotas } = other as RateLimitOptions
      const taken = new Set([...limits, ...quotas].map((l) => l.name))
      for (const [name, at] of items as [string, string][]) {
        if (taken.has(name)) ctx.error(`.${at}.name`, `"${name}" is also a limit of ${place![1]}policies[${j}]; in one scope (global, or one route) they would share one counter`)
      }
    })
    // Limits whose counter id the object would refuse: `route:<id>/<name>` must fit MAX_CHECK_ID.
    if (ctx.route !== undefined) {
      const scope = `route:${ctx.route.id}/`
      for (const [name, at] of items as [string, string][]) {
        const length = scope.length + name.length
        if (length > MAX_CHECK_ID) ctx.error(`.${at}.name`, `the counter id "${scope}<name>" would be ${length} characters (at most ${MAX_CHECK_ID}): shorten the route id or the name`)
      }
    }
    // Every check of one request may share one object, and an object takes at most MAX_CHECKS a call.
    let most = 0
    let largest = ''
    if (options.plans) {
      for (const [planName, plan] of Object.entries(plansOf(ctx.config))) {
        const clash = duplicateName([...options.limits, ...options.quotas, ...plan.limits, ...plan.quotas])
        if (clash !== undefined && seen.has(clash)) ctx.error('.plans', `plan "${planName}" also has a limit named "${clash}"; names must differ`)
        const count = plan.limits.length + plan.quotas.length
        if (count > most) [most, largest] = [count, planName]
      }
    }
    const total = items.length + most
    if (total > MAX_CHECKS) {
      const detail = most > 0 ? `${items.length} here + ${most} in plan "${largest}"` : `${items.length} here`
      ctx.error('', `at most ${MAX_CHECKS} limits and quotas can apply to one request (found ${total}: ${detail})`)
    }
  },
  subrequests(options) {
    // One RPC per distinct key; on a denial, a refund to each object but the one that denied.
    const keys = new Set([...options.limits, ...options.quotas].map((l) => compileKey(l.by ?? options.by, l.by ? l.fallback : (l.fallback ?? options.fallback)).signature))
    if (options.plans) keys.add(compileKey(CONSUMER_KEY).signature)
    return keys.size === 0 ? 0 : 2 * keys.size - 1
  },
  create(options, { env, route, config }) {
    const own = compileLimits(route ? `route:${route.id}` : 'global', options.limits, options.quotas, options.by, options.fallback)
    const planLimits = new Map<string, CompiledLimit[]>()
    if (options.plans) {
      for (const [name, plan] of Object.entries(plansOf(config))) {
        // Plan counters are shared by every route that applies plans: a plan quota is the consumer's whole allowance.
        planLimits.set(name, compileLimits('plan', plan.limits, plan.quotas, CONSUMER_KEY, undefined))
      }
    }
    const { binding, onError, timeout } = options
    const ns = env[binding] as DurableObjectNamespace<RateLimiter> | undefined

    return async function rateLimit(c, next) {
      const plan = c.get('consumer')?.plan
      const applied = plan !== undefined && planLimits.has(plan) ? [...own, ...planLimits.get(plan)!] : own
      if (applied.length === 0) return next()

      const input: KeyInput = {
        consumer: c.get('consumer')?.key,
        ip: c.req.header('cf-connecting-ip'),
        route: c.get('route')?.id,
        headers: c.req.raw.headers,
        apiKey: c.get('apiKeyHash'),
      }
      const derived = new Map<string, Promise<{ key: string; fallback: boolean }>>()
      const keys = await Promise.all(
        applied.map((limit) => {
          let key = derived.get(limit.key.signature)
          if (!key) derived.set(limit.key.signature, (key = limit.key.derive(input)))
          return key
        }),
      )
      const calls = new Map<string, ObjectCall>()
      applied.forEach((limit, i) => {
        const { key } = keys[i]!
        const call = calls.get(key) ?? { key, checks: [] }
        call.checks.push(limit.check)
        calls.set(key, call)
      })
      const log: Record<string, unknown> = { objects: calls.size, limits: applied.length }
      if (keys.some((k) => k.fallback)) log.fallback = true
      c.get('log').rateLimit = log

      let outcomes: Awaited<ReturnType<typeof reserve>>
      if (!ns || typeof ns.idFromName !== 'function') {
        outcomes = [...calls.keys()].map((key) => ({ key, ok: false, error: `no Durable Object binding "${binding}"` }))
      } else {
        outcomes = await reserve(ns, [...calls.values()], timeout, onError === 'deny', c.get('runtime'), c)
      }

      const decisions = new Map<string, LimitDecision>()
      const errors: string[] = []
      let denied = false
      for (const outcome of outcomes) {
        if (!outcome.ok) {
          errors.push(outcome.error)
          continue
        }
        const result: ConsumeResult = outcome.result
        if (!result.allowed) denied = true
        for (const d of result.decisions) decisions.set(d.id, outcome.refunded ? { ...d, remaining: d.remaining + 1 } : d)
      }

      if (errors.length > 0) {
        log.error = errors[0]
        logEvent('rate_limit_unavailable', { requestId: c.get('requestId'), binding, onError, errors })
        if (onError === 'deny' && !denied) {
          log.outcome = 'failed-closed'
          throw new GatewayError('ERR_RATE_LIMIT_UNAVAILABLE', { detail: 'Rate limiting is unavailable; try again shortly.', headers: { 'Retry-After': '1' } })
        }
        log.outcome = 'failed-open'
      }

      const fields = fieldItems(applied, decisions)
      if (denied) {
        const hit = applied.filter((limit) => decisions.get(limit.check.id)?.allowed === false)
        const first = hit[0]!
        const retryAfter = Math.max(1, ...hit.map((limit) => toSeconds(decisions.get(limit.check.id)!.retryAfterMs)))
        log.outcome = 'denied'
        log.denied = hit.map((limit) => limit.name)
        const quota = hit.some((limit) => limit.quota)
        throw new GatewayError(quota ? 'ERR_QUOTA_EXCEEDED' : 'ERR_RATE_LIMITED', {
          detail: `${quota ? 'Quota' : 'Rate limit'} "${first.name}" (${first.describe}) exceeded; retry in ${retryAfter} s.`,
          headers: { 'RateLimit-Policy': fields.policy, RateLimit: fields.state, 'Retry-After': String(retryAfter) },
          extensions: { limit: first.name, limits: hit.map((limit) => limit.name), retryAfter },
        })
      }
      log.outcome ??= 'allowed'
      await next()
      if (fields.policy) {
        editResponseHeaders(c, (headers) => {
          headers.append('RateLimit-Policy', fields.policy)
          headers.append('RateLimit', fields.state)
        })
      }
    }
  },
})
