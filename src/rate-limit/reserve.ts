/**
 * @module
 * Reserve-and-refund across objects. A request under limits kept in several objects (an IP limit
 * and a consumer quota) asks each object once, in parallel, with all of that object's checks in
 * one RPC. Each object admits all-or-nothing; if any object denies, the objects that admitted give
 * their units back (`refund`), so no limit ever admits more than its count — a unit held by a
 * request that is later refunded is simply unavailable for that moment. Every call has a deadline,
 * so a slow or broken object can't hang a request. A call that missed it may still run in the
 * object and charge a unit: when the request is refused, such an object is also sent the refund,
 * best effort and after the response (`waitUntil`), through the same stub so it queues behind the
 * late call. If the refund still overtakes it, or fails, that unit stays used until its window passes.
 */
import type { ConsumeResult, LimitCheck } from './limiter-rpc'
import type { RateLimiter } from './rate-limiter'
import { systemRuntime, type Runtime, type WaitUntilTarget } from '../core/runtime'

/** `units`: what the request costs in each of the checks (the policy's `cost`; default 1). */
export type ObjectCall = { key: string; checks: LimitCheck[]; units?: number }

export type ObjectOutcome =
  /** `giveBack`: the unit came from a lease (`./leases`); a refund returns it there, no RPC. */
  | { key: string; ok: true; result: ConsumeResult; refunded: boolean; giveBack?: () => boolean | Promise<boolean> }
  | { key: string; ok: false; error: string; timedOut?: boolean; lateRefund?: () => Promise<number> }

/** How long a late refund (to an object that missed the deadline) may take, after the response. */
const LATE_REFUND_MS = 30_000

export class RateLimiterTimeout extends Error {
  constructor(ms: number) {
    super(`the rate limiter did not answer within ${ms} ms`)
    this.name = 'RateLimiterTimeout'
  }
}

/** One promise and one timer a call (no race, no deadline promise, no `finally` chain): it runs on every limited request. */
export function withTimeout<T>(promise: PromiseLike<T>, ms: number, runtime: Runtime = systemRuntime): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = runtime.setTimeout(() => reject(new RateLimiterTimeout(ms)), ms)
    promise.then(
      (value) => {
        runtime.clearTimeout(timer)
        resolve(value)
      },
      (err: unknown) => {
        runtime.clearTimeout(timer)
        reject(err)
      },
    )
  })
}

type Namespace = DurableObjectNamespace<RateLimiter>

/**
 * Hot keys' ids, per namespace and isolate (not per config: an id depends on the name alone, so it
 * stays right across hot reloads): `idFromName` hashes the name on every call. Ids are plain
 * values; stubs are not cached (a stub that saw an exception stays broken). No time involved.
 */
const ids = new WeakMap<Namespace, Map<string, DurableObjectId>>()
const MAX_IDS = 1024

export function stubFor(ns: Namespace, key: string) {
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

/** The leased path of a call, when it has one: the outcome of taking a unit from a lease. */
export type LeasedTake = (call: ObjectCall) => Promise<ObjectOutcome> | undefined

/**
 * Asks every object (or takes from its lease, through `leased`); refunds the admitting ones when any denied, or when any failed and
 * `refundOnError` (fail closed). Never throws: failures are returned per object.
 */
export async function reserve(
  ns: Namespace,
  calls: ObjectCall[],
  timeoutMs: number,
  refundOnError: boolean,
  runtime: Runtime = systemRuntime,
  /** The request late refunds belong to (`runtime.waitUntil`); without one they run unawaited. */
  request?: WaitUntilTarget,
  leased?: LeasedTake,
  /** Every admitted unit must stay refundable after the request (a cost read from the response may be 0). */
  refundable = false,
): Promise<ObjectOutcome[]> {
  // One object never refunds (a denial there consumed nothing), so it needs no reservation.
  const reservation = calls.length > 1 || refundable ? runtime.randomId() : ''
  // Made on first use: a call served from a lease never needs one.
  const made: (DurableObjectStub<RateLimiter> | undefined)[] = []
  const stub = (i: number) => (made[i] ??= stubFor(ns, calls[i]!.key))
  const outcomes: ObjectOutcome[] = await Promise.all(
    calls.map(async (call, i): Promise<ObjectOutcome> => {
      const { key, checks } = call
      const fromLease = leased?.(call)
      if (fromLease) return fromLease
      try {
        const result = (await withTimeout(stub(i).consume(checks, reservation, call.units ?? 1), timeoutMs, runtime)) as ConsumeResult
        if (result.error !== undefined) return { key, ok: false, error: result.error }
        const giveBack = () => withTimeout(stub(i).refund(reservation), timeoutMs, runtime).then((units) => units >= 0, () => false)
        return { key, ok: true, result, refunded: false, ...(refundable && { giveBack }) }
      } catch (err) {
        return { key, ok: false, error: String((err as Error)?.message ?? err), timedOut: err instanceof RateLimiterTimeout }
      }
    }),
  )
  const denied = outcomes.some((o) => o.ok && !o.result.allowed)
  const failed = outcomes.some((o) => !o.ok)
  if (denied || (failed && refundOnError)) {
    outcomes.forEach((outcome, i) => {
      if (outcome.ok || !outcome.timedOut || reservation === '') return
      // Reservation ids are unique: refunding one the object has not charged yet removes nothing, and
      // the object remembers it, so the late call is charged nothing if it still arrives.
      runtime.waitUntil(request, withTimeout(outcome.lateRefund?.() ?? stub(i).refund(reservation), LATE_REFUND_MS, runtime).catch(() => -1))
    })
  }
  if (denied || (failed && refundOnError)) {
    await Promise.all(
      outcomes.map(async (outcome, i) => {
        if (!outcome.ok || !outcome.result.allowed) return
        if (outcome.giveBack) {
          outcome.refunded = await outcome.giveBack()
          return
        }
        try {
          const refunded = await withTimeout(stub(i).refund(reservation), timeoutMs, runtime)
          outcome.refunded = refunded >= 0
        } catch {
          // The unit stays used until its window passes: we over-count, never under-count.
        }
      }),
    )
  }
  return outcomes
}
