/**
 * @module
 * Settling a request's cost after its response, for a `rate-limit` policy whose cost the response
 * or the action reports (`costHeader`, `costPath`, `actionCost`): admission took `minCost` in each
 * object; what the request really cost is charged (or given back) in `waitUntil`.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../core/context'
import { logEvent } from '../core/logging'
import { systemRuntime } from '../core/runtime'
import type { ParsedPath } from '../template/path'
import type { RateLimiter } from './rate-limiter'
import { stubFor, withTimeout, type ObjectCall, type ObjectOutcome } from './reserve'
import { costFromHeader, teeBodyCost } from './response-cost'
import { MAX_COST } from './limiter-rpc'

/** Where the request's cost is read: a response header, a JSON path of its body, or what the action reports. */
export type CostSource = { header: string } | { path: ParsedPath; maxBytes: number } | { action: true }

/** What settling needs of the policy: the objects, how long to wait for them, where the cost is. */
export type CostSettings = { ns: DurableObjectNamespace<RateLimiter> | undefined; timeout: number; costFrom: CostSource | undefined }

type Outcomes = ObjectOutcome[]

/**
 * Charges what the response reported, in every object that admitted: more than admission took is
 * charged (the key may go into debt, delaying its next admissions); 0 gives back what admission
 * took; between them, admission's units stand. Resolves when every call is done (or failed).
 */
function chargeCost({ ns, timeout }: CostSettings, c: Context<AppEnv>, calls: Map<string, ObjectCall>, outcomes: Outcomes, taken: number, cost: number): Promise<unknown> {
  if (cost === taken || !ns) return Promise.resolve()
  const runtime = c.get('runtime') ?? systemRuntime
  const work: Promise<unknown>[] = []
  for (const outcome of outcomes) {
    if (!outcome.ok || !outcome.result.allowed) continue
    const call = calls.get(outcome.key)!
    if (cost === 0) {
      if (outcome.giveBack) work.push(Promise.resolve(outcome.giveBack()).catch(() => false))
    } else if (cost > taken) {
      work.push(withTimeout(stubFor(ns, call.key).charge(call.checks, Math.min(cost - taken, MAX_COST)), timeout, runtime).catch(() => -1))
    }
  }
  return Promise.all(work)
}

/**
 * The cost the response reports, settled after it in `waitUntil`: from `costHeader` at once, or
 * from `costPath` once a tee of the body has been read (the client's branch replaces `c.res`, so
 * it flows as the origin sends it). Unread, `minCost` stays charged and the reason is logged.
 */
export function settleCost(c: Context<AppEnv>, settings: CostSettings, calls: Map<string, ObjectCall>, outcomes: Outcomes, taken: number, log: Record<string, unknown>) {
  const { costFrom } = settings
  if (!costFrom || outcomes.every((o) => !o.ok || !o.result.allowed)) return
  const runtime = c.get('runtime') ?? systemRuntime
  const unread = (reason: string) => logEvent('rate_limit_cost_unread', { requestId: c.get('requestId'), reason, charged: taken })
  if ('action' in costFrom) {
    // The action publishes its cost (`actionCost`); none (a cached response, a `respond`) leaves `minCost`.
    const cost = c.get('actionCost')
    if (cost === undefined) return
    log.cost = cost
    return runtime.waitUntil(c, chargeCost(settings, c, calls, outcomes, taken, cost))
  }
  if ('header' in costFrom) {
    const reading = costFromHeader(c.res.headers, costFrom.header)
    // A missing header is the usual way to say "the minimum": logged only when it is malformed.
    if ('unread' in reading) return c.res.headers.has(costFrom.header) ? unread(reading.unread) : undefined
    log.cost = reading.cost
    return runtime.waitUntil(c, chargeCost(settings, c, calls, outcomes, taken, reading.cost))
  }
  const { response, reading } = teeBodyCost(c.res, costFrom.path, costFrom.maxBytes)
  if (response !== c.res) {
    c.res = undefined
    c.res = response
  }
  log.cost = 'body'
  runtime.waitUntil(c, reading.then((read) => ('cost' in read ? chargeCost(settings, c, calls, outcomes, taken, read.cost) : unread(read.unread))))
}
