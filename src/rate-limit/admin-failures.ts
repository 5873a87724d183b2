/**
 * @module
 * Wrong admin tokens, counted per client IP (`CF-Connecting-IP`) in the `RateLimiter` Durable
 * Object, so guessing the token is bounded across every isolate and data centre. After
 * `MAX_FAILURES` wrong tokens within `FAILURE_WINDOW_MS`, that IP gets 429 with `Retry-After` on
 * every token it presents, the right one included, until the oldest failure leaves the window:
 * were the right token let through, the 429s would only slow guessing down, never stop it (a
 * guesser would just wait for the first non-429).
 *
 * Cost: a wrong token is one `consume` on the IP's object; a right bearer token one read
 * (`inspect`, no write), the only way to know a block set by failures seen in other isolates.
 * Requests presenting no token, and dashboard requests with a session cookie (an HMAC nobody can
 * guess), never reach the object. The counter shares the IP's object with `ip`-keyed rate limits
 * (key `ip=<address>`, check `admin/token-failures`), so the rate-limit admin endpoints show and
 * reset it. Without the `RATE_LIMITER` binding, or without a client IP (only when the Worker is
 * called directly, never behind Cloudflare), nothing is counted; when the object fails or is slow,
 * admin requests are decided by the token alone (logged), so an outage never locks operators out.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../core/context'
import type { WindowCheck } from './limiter-rpc'
import type { RateLimiter } from './rate-limiter'
import type { Env } from '../core/env'
import { GatewayError } from '../core/errors'
import { logEvent } from '../core/logging'
import { toSeconds } from './fields'
import { compileKey } from './keys'
import { reserve, withTimeout } from './reserve'

/**
 * 10 wrong tokens per 5 minutes per IP: an operator mistyping, or a script with a stale token
 * (it stops at its first 401), never gets near it, and the wait is at most 5 minutes; a guesser
 * gets ~2,900 tries a day per address, nothing against a random token of 20+ characters.
 */
export const MAX_FAILURES = 10
export const FAILURE_WINDOW_MS = 5 * 60_000
export const FAILURE_CHECK: WindowCheck = { id: 'admin/token-failures', kind: 'window', limit: MAX_FAILURES, windowMs: FAILURE_WINDOW_MS }
const BINDING = 'RATE_LIMITER'
const TIMEOUT_MS = 1000
const ipKey = compileKey(['ip'])

/** Per isolate: the missing binding is logged once, not once per config built by a hot reload. */
let warnedOff = false

function blocked(retryAfterMs: number): GatewayError {
  const retryAfter = Math.max(1, toSeconds(retryAfterMs))
  return new GatewayError('ERR_RATE_LIMITED', {
    detail: `Too many wrong admin tokens from this address; retry in ${retryAfter} s.`,
    headers: { 'Retry-After': String(retryAfter) },
    extensions: { limit: 'admin-token-failures', retryAfter },
  })
}

/**
 * Call after comparing a presented admin token: `ok` false counts a failure. Throws a 429
 * `GatewayError` while the caller's IP is blocked (whatever `ok` is); otherwise returns.
 */
export type AdminTokenGuard = (c: Context<AppEnv>, ok: boolean) => Promise<void>

export function adminTokenGuard(env: Env): AdminTokenGuard {
  const ns = env[BINDING] as DurableObjectNamespace<RateLimiter> | undefined
  if (!ns || typeof ns.idFromName !== 'function') {
    if (!warnedOff) logEvent('admin_token_limit_off', { reason: `no Durable Object binding "${BINDING}": wrong admin tokens are not limited` })
    warnedOff = true
    return async () => {}
  }
  return async function guardAdminToken(c, ok) {
    const ip = c.req.header('cf-connecting-ip')
    if (!ip?.trim()) return
    const { key } = await ipKey.derive({ ip, consumer: undefined, route: undefined, headers: c.req.raw.headers })
    if (ok) {
      let state
      try {
        state = await withTimeout(ns.get(ns.idFromName(key)).inspect(), TIMEOUT_MS, c.get('runtime'))
      } catch (err) {
        logEvent('admin_token_limit_unavailable', { requestId: c.get('requestId'), error: String((err as Error)?.message ?? err) })
        return
      }
      const counter = state.counters.find((counter) => counter.id === FAILURE_CHECK.id)
      // The object never admits more than the limit, so at the limit the oldest failure frees the next try.
      if (counter?.kind === 'window' && counter.count >= MAX_FAILURES) {
        c.get('log').adminBlocked = true
        throw blocked(counter.oldestAt + FAILURE_WINDOW_MS - state.now)
      }
      return
    }
    const [outcome] = await reserve(ns, [{ key, checks: [FAILURE_CHECK] }], TIMEOUT_MS, false, c.get('runtime'), c)
    if (!outcome?.ok) {
      logEvent('admin_token_limit_unavailable', { requestId: c.get('requestId'), error: outcome?.error })
      return
    }
    const decision = outcome.result.decisions[0]
    if (!outcome.result.allowed && decision) {
      c.get('log').adminBlocked = true
      throw blocked(decision.retryAfterMs)
    }
  }
}
