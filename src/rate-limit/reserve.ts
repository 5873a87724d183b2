/**
 * @module
 * Reserve-and-refund across objects. A request under limits kept in several objects (an IP limit
 * and a consumer quota) asks each object once, in parallel, with all of that object's checks in
 * one RPC. Each object admits all-or-nothing; if any object denies, the objects that admitted give
 * their units back (`refund`), so no limit ever admits more than its count — a unit held by a
 * request that is later refunded is simply unavailable for that moment — and a denied request
 * ends up charged nowhere. Every call has a deadline, so a slow or broken object can't hang a request.
 */
import type { ConsumeResult, LimitCheck, RateLimiter } from '../durable-objects/rate-limiter'

export type ObjectCall = { key: string; checks: LimitCheck[] }

export type ObjectOutcome =
  | { key: string; ok: true; result: ConsumeResult; refunded: boolean }
  | { key: string; ok: false; error: string }

export class RateLimiterTimeout extends Error {
  constructor(ms: number) {
    super(`the rate limiter did not answer within ${ms} ms`)
    this.name = 'RateLimiterTimeout'
  }
}

/** One promise and one timer a call (no race, no deadline promise, no `finally` chain): it runs on every limited request. */
export function withTimeout<T>(promise: PromiseLike<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new RateLimiterTimeout(ms)), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (err: unknown) => {
        clearTimeout(timer)
        reject(err)
      },
    )
  })
}

type Namespace = DurableObjectNamespace<RateLimiter>

/** Hot keys' ids, per namespace and isolate: `idFromName` hashes the name on every call. Ids are plain values; stubs are not cached (a stub that saw an exception stays broken). */
const ids = new WeakMap<Namespace, Map<string, DurableObjectId>>()
const MAX_IDS = 1024

function stubFor(ns: Namespace, key: string) {
  let known = ids.get(ns)
  if (known === undefined) ids.set(ns, (known = new Map()))
  let id = known.get(key)
  if (id === undefined) {
    // Bounded: a flood of distinct keys (IPs) evicts the oldest entry, never grows the isolate.
    if (known.size >= MAX_IDS) known.delete(known.keys().next().value!)
    id = ns.idFromName(key)
    known.set(key, id)
  }
  return ns.get(id)
}

/**
 * Asks every object; refunds the admitting ones when any denied, or when any failed and
 * `refundOnError` (fail closed). Never throws: failures are returned per object.
 */
export async function reserve(ns: Namespace, calls: ObjectCall[], timeoutMs: number, refundOnError: boolean): Promise<ObjectOutcome[]> {
  // One object never refunds (a denial there consumed nothing), so it needs no reservation.
  const reservation = calls.length > 1 ? crypto.randomUUID() : ''
  const outcomes: ObjectOutcome[] = await Promise.all(
    calls.map(async ({ key, checks }): Promise<ObjectOutcome> => {
      try {
        const result = (await withTimeout(stubFor(ns, key).consume(checks, reservation), timeoutMs)) as ConsumeResult
        if (result.error !== undefined) return { key, ok: false, error: result.error }
        return { key, ok: true, result, refunded: false }
      } catch (err) {
        return { key, ok: false, error: String((err as Error)?.message ?? err) }
      }
    }),
  )
  const denied = outcomes.some((o) => o.ok && !o.result.allowed)
  const failed = outcomes.some((o) => !o.ok)
  if (denied || (failed && refundOnError)) {
    await Promise.all(
      outcomes.map(async (outcome) => {
        if (!outcome.ok || !outcome.result.allowed) return
        try {
          const refunded = await withTimeout(stubFor(ns, outcome.key).refund(reservation), timeoutMs)
          outcome.refunded = refunded >= 0
        } catch {
          // The unit stays used until its window passes: we over-count, never under-count.
        }
      }),
    )
  }
  return outcomes
}
