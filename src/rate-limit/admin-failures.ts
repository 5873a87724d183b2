/**
 * @module
 * Wrong admin tokens, counted per client IP through `credential-failures.ts` (the `RateLimiter`
 * Durable Object), so guessing the token is bounded across every isolate and data centre. After
 * `MAX_FAILURES` wrong tokens within `FAILURE_WINDOW_MS`, that IP gets 429 with `Retry-After` on
 * every token it presents, the right one included, until the oldest failure leaves the window.
 *
 * Requests presenting no token, and dashboard requests with a session cookie (an HMAC nobody can
 * guess), never reach the object. Without a client IP (only when the Worker is called directly,
 * never behind Cloudflare) nothing is counted.
 */
import type { AdminTokenGuard } from '../core/admin'
import type { Env } from '../core/env'
import type { WindowCheck } from './limiter-rpc'
import { failureGuard } from './credential-failures'

/**
 * 10 wrong tokens per 5 minutes per IP: an operator mistyping, or a script with a stale token
 * (it stops at its first 401), never gets near it, and the wait is at most 5 minutes; a guesser
 * gets ~2,900 tries a day per address, nothing against a random token of 20+ characters.
 */
export const MAX_FAILURES = 10
export const FAILURE_WINDOW_MS = 5 * 60_000
export const FAILURE_CHECK: WindowCheck = { id: 'admin/token-failures', kind: 'window', limit: MAX_FAILURES, windowMs: FAILURE_WINDOW_MS }

export function adminTokenGuard(env: Env): AdminTokenGuard {
  const guard = failureGuard(
    env,
    {
      id: FAILURE_CHECK.id,
      max: MAX_FAILURES,
      windowMs: FAILURE_WINDOW_MS,
      name: 'admin-token-failures',
      detail: (retryAfter) => `Too many wrong admin tokens from this address; retry in ${retryAfter} s.`,
    },
    (c) => (c.get('log').adminBlocked = true),
  )
  return (c, ok) => guard(c, ok)
}
