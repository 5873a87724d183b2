/**
 * Several gateway instances in front of one `RateLimiter` namespace, on one injected clock: what
 * the lease tests need to stand for isolates in several places.
 * - `jitteredNamespace` wraps the pool's namespace: every call to an object waits a seeded 0-50 ms
 *   on the test's clock (a runtime timer, never a real sleep), and sets the object's clock to the
 *   test's first, so every object, including ones created during the test, uses it.
 * - `fleet` builds the instances (each its own gateway, so its own lease cache) and `drive` moves
 *   the clock while the calls in flight are real I/O: only when none is in flight, and a little at
 *   a time, so no request's limiter timeout (a runtime timer too) is ever what fires.
 */
import { createExecutionContext, runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { loadConfig } from '../../src/config/parse'
import type { Env } from '../../src/core/env'
import { createGateway } from '../../src/gateway/create-gateway'
import type { RateLimiter } from '../../src/rate-limit/rate-limiter'
import { manualRuntime, seededRandom, settle, waitFor, type ManualRuntime } from '../support/runtime'

type Namespace = DurableObjectNamespace<RateLimiter>

export type Jittered = { ns: Namespace; inFlight(): number; calls(): number; callsOf(method: string): number }

/** The pool's RATE_LIMITER, with every object call delayed 0-`maxMs` ms (seeded) on `clock`. */
export function jitteredNamespace(clock: ManualRuntime, { seed = 7, maxMs = 50 } = {}): Jittered {
  const real = env.RATE_LIMITER
  const random = seededRandom(seed)
  let inFlight = 0
  const counts = new Map<string, number>()
  const wrap = (stub: DurableObjectStub<RateLimiter>) =>
    new Proxy(stub, {
      get(target, method: string) {
        if (!['consume', 'lease', 'refund', 'inspect'].includes(method)) return Reflect.get(target, method)
        return async (...args: unknown[]) => {
          await clock.sleep(Math.floor(random() * (maxMs + 1)))
          inFlight++
          counts.set(method, (counts.get(method) ?? 0) + 1)
          try {
            await runInDurableObject(target, ((instance: RateLimiter) => {
              instance.clock = () => clock.now()
            }) as never)
            return await (target as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method]!(...args)
          } finally {
            inFlight--
          }
        }
      },
    })
  const ns = {
    idFromName: (name: string) => real.idFromName(name),
    get: (id: DurableObjectId) => wrap(real.get(id)),
  } as unknown as Namespace
  return {
    ns,
    inFlight: () => inFlight,
    calls: () => [...counts.values()].reduce((a, b) => a + b, 0),
    callsOf: (method) => counts.get(method) ?? 0,
  }
}

export type Admission = { at: number; instance: number; status: number; retryAfter: string | null }

export type Instance = {
  /** Sends a request from `ip`; records its status and the clock when it was answered. */
  send(ip: string): Promise<number>
}

/**
 * `count` gateway instances with a `/limited` route behind a `rate-limit` policy with `options`,
 * on one clock and one jittered namespace. Answers land in `answers` as they come.
 */
export function fleet(count: number, options: Record<string, unknown>, clock: ManualRuntime, jittered: Jittered) {
  const answers: Admission[] = []
  const config = () =>
    loadConfig({
      routes: [{ id: 'limited', match: { path: '/limited' }, policies: [{ type: 'rate-limit', onError: 'deny', timeout: 600_000, ...options } as never], action: { type: 'respond', body: { ok: true } } }],
    })
  const gatewayEnv = { ...env, RATE_LIMITER: jittered.ns } as Env
  let pending = 0
  const instances: Instance[] = Array.from({ length: count }, (_, instance) => {
    const app = createGateway(config(), gatewayEnv, { runtime: clock, writeLog: () => {} })
    return {
      async send(ip) {
        pending++
        try {
          // The response is what counts; its waitUntil work (top-ups) goes on in the background.
          const res = await app.fetch(new Request('http://gateway.test/limited', { headers: { 'cf-connecting-ip': ip } }), gatewayEnv, createExecutionContext())
          answers.push({ at: clock.now(), instance, status: res.status, retryAfter: res.headers.get('retry-after') })
          await res.body?.cancel()
          return res.status
        } finally {
          pending--
        }
      },
    }
  })
  return { instances, answers, pending: () => pending }
}

/**
 * Moves the clock `ms` forward, firing timers on the way (request arrivals, jitter delays), but
 * only while no object call is in flight and by at most `stepMs` at a time.
 */
export async function drive(clock: ManualRuntime, jittered: Jittered, ms: number, stepMs = 5): Promise<void> {
  const until = clock.now() + ms
  while (clock.now() < until) {
    await waitFor(() => jittered.inFlight() === 0, 30_000)
    await settle()
    await clock.advance(Math.min(stepMs, until - clock.now()))
  }
  await waitFor(() => jittered.inFlight() === 0, 30_000)
}

/** The most admissions (200s) in any `windowMs` interval, from the answers' times. */
export function mostInAnyWindow(answers: Admission[], windowMs: number): number {
  const times = answers.filter((a) => a.status === 200).map((a) => a.at).sort((a, b) => a - b)
  let most = 0
  for (let i = 0, j = 0; j < times.length; j++) {
    while (times[j]! - times[i]! >= windowMs) i++
    most = Math.max(most, j - i + 1)
  }
  return most
}

/** Admissions with `from <= at < to`. */
export const admittedBetween = (answers: Admission[], from: number, to: number) => answers.filter((a) => a.status === 200 && a.at >= from && a.at < to).length

export { manualRuntime }
