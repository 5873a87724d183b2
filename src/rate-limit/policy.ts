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
 * A request costs `cost` units, or what its response or action reports (`costHeader`, `costPath`,
 * `actionCost`: `minCost` at admission, the rest settled after the response, `./settle-cost`).
 *
 * @example
 * { "type": "rate-limit", "by": ["consumer"], "fallback": ["ip"],
 *   "limits": [{ "name": "burst", "limit": 20, "window": 1 }, { "name": "hourly", "limit": 1000, "window": 3600 }],
 *   "quotas": [{ "name": "monthly", "limit": 100000, "period": "month" }], "plans": true }
 */
import type { ConsumeResult, LimitCheck, LimitDecision } from './limiter-rpc'
import type { RateLimiter } from './rate-limiter'
import { GatewayError } from '../core/errors'
import { editResponseHeaders } from '../core/http'
import { logEvent } from '../core/logging'
import { policyItem, stateItem, toSeconds } from './fields'
import { compileKey, type KeyFunction, type KeyInput, type KeySpec } from './keys'
import { RateLimiterTimeout, reserve, stubFor, withTimeout, type LeasedTake, type ObjectCall, type ObjectOutcome } from './reserve'
import { LeaseCache, type LimiterLink, type Taken } from './leases'
import { plansOf, RateLimitOptionsSchema, type RateLimitOptions } from './schema'
import { checkRateLimitOptions } from './checks'
import { settleCost, type CostSource } from './settle-cost'
import { parsePath } from '../template/path'
import { definePolicy } from '../core/policy'
import { systemRuntime, type Runtime } from '../core/runtime'
import type { Context } from 'hono'
import type { AppEnv } from '../core/context'

type CompiledLimit = { name: string; check: LimitCheck; key: KeyFunction; quota: boolean; describe: string }

/** What the middleware needs of its options to reach the objects, and what to do when they fail. */
type Settings = Pick<RateLimitOptions, 'binding' | 'onError' | 'timeout'> & {
  ns: DurableObjectNamespace<RateLimiter> | undefined
  leases: LeaseCache | undefined
  costFrom: CostSource | undefined
}

/**
 * Lease caches, one per gateway (per config object): per isolate and per config version, so every
 * route of a gateway shares the leases of a key (plan counters), and a reload starts afresh.
 */
const leaseCaches = new WeakMap<object, LeaseCache>()

type Outcomes = ObjectOutcome[]

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

/** What a limit key may be made of, read from the request and what earlier policies published. */
function keyInput(c: Context<AppEnv>): KeyInput {
  return {
    consumer: c.get('consumer')?.key,
    // The raw headers' own lookup: Hono's `c.req.header` adds a wrapper call per request.
    ip: c.req.raw.headers.get('cf-connecting-ip') ?? undefined,
    route: c.get('route')?.id,
    headers: c.req.raw.headers,
    apiKey: c.get('apiKeyHash'),
  }
}

/**
 * Each limit's key (derived once per distinct key function), and the limits grouped by key: one
 * object, and so one RPC, per key. `fallback` says whether any key fell back.
 */
async function callsPerObject(applied: CompiledLimit[], input: KeyInput, units: number) {
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
    const call = calls.get(key) ?? { key, checks: [], units }
    call.checks.push(limit.check)
    calls.set(key, call)
  })
  return { calls, fallback: keys.some((k) => k.fallback) }
}

/** Reserves in every object at once; a missing binding fails every call, for `onError` to decide. */
async function reserveAll(c: Context<AppEnv>, settings: Settings, calls: Map<string, ObjectCall>): Promise<Outcomes> {
  const { ns, binding, timeout, onError } = settings
  if (!ns || typeof ns.idFromName !== 'function') {
    return [...calls.keys()].map((key) => ({ key, ok: false, error: `no Durable Object binding "${binding}"` }))
  }
  return reserve(ns, [...calls.values()], timeout, onError === 'deny', c.get('runtime'), c, settings.leases && leasedTake(c, settings, ns), settings.costFrom !== undefined)
}

/** What follows a key in its allowance's id: the units a request takes and the checks. Both lease paths must build the same id. */
const allowanceSuffix = (units: number, checks: LimitCheck[]) =>
  `\n${units}\n${checks.map((check) => `${check.id}:${check.limit}:${check.kind === 'window' ? check.windowMs : check.period}`).join(',')}`

/** A unit taken from a lease (or refused), as the object's outcome for its key. */
function leasedOutcome(key: string, taken: Taken): ObjectOutcome {
  if ('failed' in taken) {
    const err = taken.failed as Error
    return { key, ok: false, error: String(err?.message ?? err), timedOut: err instanceof RateLimiterTimeout, lateRefund: taken.refund }
  }
  return { key, ok: true, result: { allowed: taken.allowed, decisions: taken.decisions }, refunded: false, ...(taken.allowed && { giveBack: taken.giveBack }) }
}

/** The key's object, with the policy's timeout. */
function limiterLink(ns: DurableObjectNamespace<RateLimiter>, key: string, checks: LimitCheck[], timeout: number, runtime: Runtime): LimiterLink {
  return {
    lease: (ask) => withTimeout(stubFor(ns, key).lease(checks, ask), timeout, runtime) as Promise<never>,
    refund: (id) => withTimeout(stubFor(ns, key).refund(id), timeout, runtime),
  }
}

/**
 * The lease path without a promise, for a policy whose limits are all windows on one key that
 * needs no hashing, with no cost read from the response: the unit comes from this isolate's lease
 * (or a local denial) now, or undefined and the request takes the general path (`reserveAll`),
 * which waits for an ask. Compiled once per policy; undefined when the policy doesn't qualify.
 */
function compileLeaseNow(own: CompiledLimit[], settings: Settings, units: number) {
  const { leases, ns, timeout, costFrom } = settings
  if (!leases || !ns || typeof ns.idFromName !== 'function' || costFrom || own.length === 0) return undefined
  if (own.some((limit) => limit.quota || limit.key.signature !== own[0]!.key.signature)) return undefined
  const key = own[0]!.key
  const checks = own.map((limit) => limit.check)
  const suffix = allowanceSuffix(units, checks)
  return (c: Context<AppEnv>): { outcome: ObjectOutcome; fallback: boolean } | undefined => {
    const keyed = key.deriveNow(keyInput(c))
    if (!keyed) return undefined
    const runtime = c.get('runtime') ?? systemRuntime
    const taken = leases.allowance(keyed.key + suffix, units, checks).takeNow(
      runtime,
      () => limiterLink(ns, keyed.key, checks, timeout, runtime),
      (work) => runtime.waitUntil(c, work),
    )
    return taken && { outcome: leasedOutcome(keyed.key, taken), fallback: keyed.fallback }
  }
}

/**
 * The lease path for a call whose checks are all window limits (a quota takes the exact path):
 * a unit from the isolate's allowance for the key, topped up in `waitUntil`.
 */
function leasedTake(c: Context<AppEnv>, { leases, timeout }: Settings, ns: DurableObjectNamespace<RateLimiter>): LeasedTake {
  // A bare policy (no request context in front of it) still has the system's clock.
  const runtime = c.get('runtime') ?? systemRuntime
  return (call) => {
    const checks = call.checks
    const units = call.units ?? 1
    const allowance = leases!.allowance(call.key + allowanceSuffix(units, checks), units, checks)
    const link = limiterLink(ns, call.key, checks, timeout, runtime)
    return allowance.take(runtime, link, (work) => runtime.waitUntil(c, work)).then((taken) => leasedOutcome(call.key, taken))
  }
}

/**
 * Every limit's decision by check id, the objects' errors, and whether any object denied. A
 * refunded reservation gave its unit back, so its decisions show one more remaining.
 */
function collectDecisions(outcomes: Outcomes, cost: number) {
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
    for (const d of result.decisions) decisions.set(d.id, outcome.refunded ? { ...d, remaining: d.remaining + cost } : d)
  }
  return { decisions, errors, denied }
}

/** Some object failed: logged, then `onError: "deny"` refuses with a 503 (unless a limit already denied), `allow` lets it through. */
function applyOnError(c: Context<AppEnv>, { binding, onError }: Settings, log: Record<string, unknown>, errors: string[], denied: boolean) {
  log.error = errors[0]
  logEvent('rate_limit_unavailable', { requestId: c.get('requestId'), binding, onError, errors })
  if (onError === 'deny' && !denied) {
    log.outcome = 'failed-closed'
    throw new GatewayError('ERR_RATE_LIMIT_UNAVAILABLE', { detail: 'Rate limiting is unavailable; try again shortly.', headers: { 'Retry-After': '1' } })
  }
  log.outcome = 'failed-open'
}

/** Refuses the request with a 429 naming the limits hit, its `RateLimit` fields and the longest `Retry-After`. */
function deny(applied: CompiledLimit[], decisions: Map<string, LimitDecision>, fields: { policy: string; state: string }, log: Record<string, unknown>): never {
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

export const rateLimitPolicy = definePolicy({
  type: 'rate-limit',
  phase: 'rate-limit',
  schema: RateLimitOptionsSchema,
  // Before authentication, a limit also sees the requests that `jwt`/`api-key` would reject: the
  // only way to bound credential guessing per client.
  phaseOf: (options) => (options.beforeAuth ? 'request' : 'rate-limit'),
  check: checkRateLimitOptions,
  subrequests(options) {
    // One RPC per distinct key; on a denial, a refund to each object but the one that denied.
    const keys = new Set([...options.limits, ...options.quotas].map((l) => compileKey(l.by ?? options.by, l.by ? l.fallback : (l.fallback ?? options.fallback)).signature))
    if (options.plans) keys.add(compileKey(CONSUMER_KEY).signature)
    // With a cost from the response, one more per key: the charge (or the give-back) after it.
    const fromResponse = options.costHeader !== undefined || options.costPath !== undefined || options.actionCost
    return keys.size === 0 ? 0 : 2 * keys.size - 1 + (fromResponse ? keys.size : 0)
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
    let leases: LeaseCache | undefined
    if (options.mode === 'lease') {
      leases = leaseCaches.get(config)
      if (!leases) leaseCaches.set(config, (leases = new LeaseCache()))
    }
    const costFrom: Settings['costFrom'] = options.actionCost
      ? { action: true }
      : options.costHeader !== undefined
        ? { header: options.costHeader }
        : options.costPath !== undefined
          ? { path: parsePath(options.costPath), maxBytes: options.costMaxBytes }
          : undefined
    const settings: Settings = { ns, binding, onError, timeout, leases, costFrom }
    // With a cost from the response, admission takes `minCost`; the response says the rest.
    const admissionCost = costFrom ? options.minCost : options.cost
    const leaseNow = compileLeaseNow(own, settings, admissionCost)

    return async function rateLimit(c, next) {
      const plan = c.get('consumer')?.plan
      const applied = plan !== undefined && planLimits.has(plan) ? [...own, ...planLimits.get(plan)!] : own
      if (applied.length === 0) return next()

      // Most requests of a leased limit: a unit of this isolate's lease (or its local 429) with no
      // promise and no round trip; the rest reserve in their objects, waiting for an ask if they must.
      const fromLease = applied === own ? leaseNow?.(c) : undefined
      const { calls, fallback } = fromLease ? { calls: undefined, fallback: fromLease.fallback } : await callsPerObject(applied, keyInput(c), admissionCost)
      const log: Record<string, unknown> = { objects: calls?.size ?? 1, limits: applied.length }
      if (fallback) log.fallback = true
      c.get('log').rateLimit = log

      const outcomes = fromLease ? [fromLease.outcome] : await reserveAll(c, settings, calls!)
      const { decisions, errors, denied } = collectDecisions(outcomes, admissionCost)
      if (errors.length > 0) applyOnError(c, settings, log, errors, denied)

      const fields = fieldItems(applied, decisions)
      if (denied) deny(applied, decisions, fields, log)
      log.outcome ??= 'allowed'
      await next()
      // A cost read from the response never takes the lease path (`compileLeaseNow`).
      if (calls) settleCost(c, settings, calls, outcomes, admissionCost, log)
      if (fields.policy) {
        editResponseHeaders(c, (headers) => {
          headers.append('RateLimit-Policy', fields.policy)
          headers.append('RateLimit', fields.state)
        })
      }
    }
  },
})
