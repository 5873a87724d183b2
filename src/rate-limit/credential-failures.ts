/**
 * @module
 * Wrong credentials (admin tokens, Basic passwords), counted per client IP (`CF-Connecting-IP`) and
 * per any subject the caller names (a user name) in the `RateLimiter` Durable Object, so guessing
 * is bounded across every isolate and data centre. After `limit.max` failures within
 * `limit.windowMs`, every credential presented for that IP or subject gets 429 with `Retry-After`,
 * the right one included, until the oldest failure leaves the window (`core/failures.ts` says why).
 *
 * Cost: a wrong credential is one `consume` per subject's object, in parallel; a right one one read
 * (`inspect`, no write) per object, the only way to know a block set by failures seen in other
 * isolates. With `limit.rememberClearMs`, objects found not blocked for a client IP and subjects
 * together are not asked again for them from this isolate for that long (a busy user is a few
 * object calls a second, not one a request, and does not wait for a far object each time), until a
 * wrong credential for the IP or a subject reaches this isolate. Per pair, not per key: an
 * attacker's address is taken as clear only after it presented the right credential.
 *
 * The IP's counter shares the object of `ip`-keyed rate limits (key `ip=<address>`), so the
 * rate-limit admin endpoints show and reset it; another subject's object is
 * `<label>=<value>` (`basic-user=alice`). Without the `RATE_LIMITER` binding nothing is counted
 * (logged once); when an object fails or is slow, the credential alone decides (logged), so an
 * outage never locks anyone out.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../core/context'
import type { Env } from '../core/env'
import { GatewayError } from '../core/errors'
import { sha256Hex } from '../core/encoding'
import type { FailureCounter, FailureGuard, FailureLimit } from '../core/failures'
import { logEvent } from '../core/logging'
import type { WindowCheck } from './limiter-rpc'
import type { RateLimiter } from './rate-limiter'
import { toSeconds } from './fields'
import { compileKey } from './keys'
import { reserve, withTimeout } from './reserve'

const BINDING = 'RATE_LIMITER'
const TIMEOUT_MS = 1000
const ipKey = compileKey(['ip'])
/** Longer subject values are hashed, as limit keys are (`keys.ts`), so object names stay short. */
const MAX_VALUE = 128

/** Per guard: at most this many client IP and subjects pairs remembered clear (then started afresh). */
const MAX_CLEAR = 1_000

/** Per isolate: the missing binding is logged once per kind, not once per config built by a hot reload. */
const warnedOff = new Set<string>()

/** Forgets which kinds were logged as off, so a test can see the line whatever ran before it. */
export function forgetLoggedOff(): void {
  warnedOff.clear()
}

function blocked(limit: FailureLimit, retryAfterMs: number): GatewayError {
  const retryAfter = Math.max(1, toSeconds(retryAfterMs))
  return new GatewayError('ERR_RATE_LIMITED', {
    detail: limit.detail(retryAfter),
    headers: { 'Retry-After': String(retryAfter) },
    extensions: { limit: limit.name, retryAfter },
  })
}

/** The objects' names: the client IP's (when there is one) and each subject's. */
async function keysOf(c: Context<AppEnv>, subjects: Readonly<Record<string, string>>): Promise<string[]> {
  const keys: string[] = []
  const ip = c.req.header('cf-connecting-ip')
  if (ip?.trim()) keys.push((await ipKey.derive({ ip, consumer: undefined, route: undefined, headers: c.req.raw.headers })).key)
  for (const [label, value] of Object.entries(subjects)) {
    keys.push(`${label}=${value.length > MAX_VALUE ? await sha256Hex(value, 16) : encodeURIComponent(value)}`)
  }
  return keys
}

/** `limit` counted in the `RateLimiter` objects of `env`, or nothing without the binding. */
export function failureGuard(env: Env, limit: FailureLimit, onBlocked?: (c: Context<AppEnv>) => void): FailureGuard {
  const ns = env[BINDING] as DurableObjectNamespace<RateLimiter> | undefined
  if (!ns || typeof ns.idFromName !== 'function') {
    if (!warnedOff.has(limit.id)) logEvent('credential_limit_off', { limit: limit.name, reason: `no Durable Object binding "${BINDING}": wrong credentials are not limited` })
    warnedOff.add(limit.id)
    return async () => {}
  }
  const check: WindowCheck = { id: limit.id, kind: 'window', limit: limit.max, windowMs: limit.windowMs }
  const refuse = (c: Context<AppEnv>, retryAfterMs: number): never => {
    onBlocked?.(c)
    throw blocked(limit, retryAfterMs)
  }
  const unavailable = (c: Context<AppEnv>, error: unknown) =>
    logEvent('credential_limit_unavailable', { limit: limit.name, requestId: c.get('requestId'), error: String((error as Error)?.message ?? error) })

  const rememberMs = limit.rememberClearMs
  /** Per guard and isolate: the objects' keys of a client IP and subjects, joined -> until when they were found not blocked. */
  const clear = new Map<string, number>()

  return async function guardCredential(c, ok, subjects = {}) {
    const keys = await keysOf(c, subjects)
    if (keys.length === 0) return
    const runtime = c.get('runtime')
    const pair = keys.join('\n')
    if (ok) {
      if (rememberMs !== undefined && (clear.get(pair) ?? 0) > runtime.now()) return
      const states = await Promise.all(
        keys.map((key) =>
          withTimeout(ns.get(ns.idFromName(key)).inspect(), TIMEOUT_MS, runtime).catch((err: unknown) => {
            unavailable(c, err)
            return undefined
          }),
        ),
      )
      let wait = 0
      for (const state of states) {
        const counter = state?.counters.find((counter) => counter.id === check.id)
        // The object never admits more than the limit, so at the limit the oldest failure frees the next try.
        if (state && counter?.kind === 'window' && counter.count >= limit.max) wait = Math.max(wait, counter.oldestAt + limit.windowMs - state.now)
      }
      if (wait > 0) {
        clear.delete(pair)
        refuse(c, wait)
      }
      // An object that did not answer is not known clear: asked again next time.
      if (rememberMs !== undefined && states.every((state) => state !== undefined)) {
        if (clear.size >= MAX_CLEAR) clear.clear()
        clear.set(pair, runtime.now() + rememberMs)
      }
      return
    }
    // A wrong credential seen here: no pair sharing its IP or a subject is known clear any more.
    for (const remembered of clear.keys()) if (remembered.split('\n').some((key) => keys.includes(key))) clear.delete(remembered)
    const outcomes = await reserve(ns, keys.map((key) => ({ key, checks: [check] })), TIMEOUT_MS, false, runtime, c)
    let wait = 0
    for (const outcome of outcomes) {
      if (!outcome.ok) unavailable(c, outcome.error)
      else if (!outcome.result.allowed) wait = Math.max(wait, 1, ...outcome.result.decisions.map((d) => d.retryAfterMs))
    }
    if (wait > 0) refuse(c, wait)
  }
}

/** The failure counter policies are handed (`BuildContext.failures`). */
export function credentialFailures(env: Env): FailureCounter {
  return (limit) => failureGuard(env, limit)
}
