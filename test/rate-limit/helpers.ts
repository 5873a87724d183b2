/** Helpers for the rate-limit tests: a limited route, reach a key's object, move its clock, read its counters. */
import { runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import type { InspectResult } from '../../src/rate-limit/limiter-rpc'
import type { RateLimiter } from '../../src/rate-limit/rate-limiter'
import { policyGateway, type RouteGatewayExtras, type TestGateway } from '../support/gateway'
import { manualRuntime } from '../support/runtime'

/**
 * A gateway whose route `limited` (`/limited`) answers `{ ok: true }` behind a `rate-limit` policy
 * with `options`. Its runtime is a manual one unless the test brings its own: the limiter's timeout
 * is a runtime timer that never fires until the test moves the clock, so a loaded machine can't
 * turn a slow object into an uncounted (fail-open) request.
 */
export function limitedGateway(options: Record<string, unknown>, extras: RouteGatewayExtras = {}): TestGateway {
  return policyGateway('rate-limit', options, { id: 'limited', match: { path: '/limited' }, action: { type: 'respond', body: { ok: true } } }, { ...extras, runtime: extras.runtime ?? manualRuntime() })
}

export const limiterFor = (key: string) => env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(key))

/** Runs `fn` inside the key's object (the pool's runInDurableObject, typed for RateLimiter). */
export function inObject<R>(key: string, fn: (instance: RateLimiter, state: DurableObjectState) => R | Promise<R>): Promise<R> {
  return runInDurableObject(limiterFor(key), fn as never) as Promise<R>
}

/** Sets the object's clock (the object never takes a time from its callers; only tests can do this). */
export async function setClock(key: string, at: number | string): Promise<void> {
  const ms = typeof at === 'string' ? Date.parse(at) : at
  await inObject(key, (instance) => {
    instance.clock = () => ms
  })
}

export async function inspect(key: string): Promise<InspectResult> {
  return limiterFor(key).inspect()
}

/** Units counted for a check id in a key's object (window rows or this period's quota use). */
export async function used(key: string, id: string): Promise<number> {
  const counter = (await inspect(key)).counters.find((c) => c.id === id)
  if (!counter) return 0
  return counter.kind === 'window' ? counter.count : counter.used
}

/**
 * A fresh client IP (IPv6 documentation range) for a test. Random, not a counter: object names are
 * shared by every test file in the pool, so a counter would hand two files the same object.
 */
export function freshIp(): string {
  const hex = crypto.randomUUID().replaceAll('-', '')
  return `2001:db8:${hex.slice(0, 4)}:${hex.slice(4, 8)}:${hex.slice(8, 12)}:${hex.slice(12, 16)}:${hex.slice(16, 20)}:${hex.slice(20, 24)}`
}

/** The `["consumer"]` limit key of a token's subject the config doesn't know: `consumer=` + the URI-encoded `<sub>@<iss>`. */
export function tokenConsumerKey(sub: string, issuer: string): string {
  return `consumer=${encodeURIComponent(`${sub.replace(/[%@]/g, encodeURIComponent)}@${issuer}`).replaceAll('%3A', ':')}`
}
